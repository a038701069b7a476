"""What can be consumed, in the admin: resource types with their variants, usage
metrics and regions. Keys never change once a row exists: usage and prices name
rows by key."""

from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from catalog.admin.base import FleetAdminOnly, KeyedForm
from catalog.models import (
    Aggregation,
    Metric,
    MetricPolicy,
    Region,
    ResourceType,
    UsageMetric,
    Variant,
)


class VariantForm(KeyedForm):
    class Meta:
        model = Variant
        fields = ("key", "description")


class VariantInline(FleetAdminOnly, admin.TabularInline):
    model = Variant
    form = VariantForm
    fk_name = "metric"
    extra = 1
    can_delete = False


class ResourceTypeForm(KeyedForm):
    class Meta:
        model = ResourceType
        fields = ("key", "name", "unit", "description")


@admin.register(ResourceType)
class ResourceTypeAdmin(FleetAdminOnly, admin.ModelAdmin):
    form = ResourceTypeForm
    inlines = [VariantInline]
    list_display = ("key", "name", "unit", "variant_count", "prices_link")
    search_fields = ("key", "name", "description")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(variant_total=Count("variants"))

    def get_readonly_fields(self, request, obj=None):
        # Usage events and prices name the type by its key: it never changes.
        return ("key",) if obj is not None else ()

    @admin.display(description="variants", ordering="variant_total")
    def variant_count(self, obj):
        return obj.variant_total

    @admin.display(description="prices")
    def prices_link(self, obj):
        url = reverse("admin:catalog_price_changelist") + "?" + urlencode(
            {"metric__id__exact": obj.pk, "status": "live"}
        )
        return format_html('<a href="{}">prices</a>', url)

    def save_model(self, request, obj, form, change):
        obj.aggregation = Aggregation.DURATION
        super().save_model(request, obj, form, change)


class RegionForm(KeyedForm):
    class Meta:
        model = Region
        fields = ("key", "name")


@admin.register(Region)
class RegionAdmin(FleetAdminOnly, admin.ModelAdmin):
    form = RegionForm
    list_display = ("key", "name")
    search_fields = ("key", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("key",) if obj is not None else ()


class MetricForm(KeyedForm):
    class Meta:
        model = Metric
        fields = ("key", "name", "service", "unit", "aggregation", "description")

    def clean_aggregation(self):
        aggregation = self.cleaned_data.get("aggregation")
        if aggregation == Aggregation.DURATION:
            raise ValidationError("Running-time metrics are resource types: add a resource "
                                  "type instead.")
        return aggregation


class OtelMappingInline(FleetAdminOnly, admin.StackedInline):
    """Which OpenTelemetry metric feeds this one over OTLP (POST /api/v1/otlp/v1/metrics)."""

    model = MetricPolicy
    fields = ("otel_metric_name", "otel_project_attribute", "otel_value")
    verbose_name = "OpenTelemetry (OTLP) mapping"
    verbose_name_plural = "OpenTelemetry (OTLP) mapping"
    can_delete = False
    max_num = 1
    extra = 0


@admin.register(UsageMetric)
class UsageMetricAdmin(FleetAdminOnly, admin.ModelAdmin):
    form = MetricForm
    inlines = [OtelMappingInline]
    list_display = ("key", "name", "service", "aggregation", "unit")
    list_filter = ("service", "aggregation")
    list_select_related = ("service",)
    search_fields = ("key", "name")

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(aggregation=Aggregation.DURATION)

    def get_readonly_fields(self, request, obj=None):
        return ("key", "aggregation") if obj is not None else ()
