"""What can be consumed, in the admin: resource types with their variants, usage
metrics and regions. Keys never change once a row exists: usage and prices name
rows by key."""

from urllib.parse import urlencode

from django import forms
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
    MetricSource,
    Region,
    ResourceType,
    UsageMetric,
    Variant,
)
from catalog.services.metrics import UNIQUE_NEEDS_ATTRIBUTE


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
    # The metric's policy: without it a unique count has nothing to count (quantity 0).
    unique_attribute = forms.CharField(
        required=False, max_length=100,
        help_text="Unique count: the usage events' attribute whose distinct values are "
        "counted (e.g. user_id).")

    class Meta:
        model = Metric
        fields = ("key", "name", "service", "unit", "aggregation", "unique_attribute",
                  "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        policy = MetricPolicy.objects.filter(metric_id=self.instance.pk).first()
        if policy is not None:
            self.fields["unique_attribute"].initial = policy.unique_attribute

    def clean_aggregation(self):
        aggregation = self.cleaned_data.get("aggregation")
        if aggregation == Aggregation.DURATION:
            raise ValidationError("Running-time metrics are resource types: add a resource "
                                  "type instead.")
        return aggregation

    def clean(self):
        cleaned = super().clean()
        aggregation = cleaned.get("aggregation") or self.instance.aggregation
        if aggregation == Aggregation.UNIQUE_COUNT and not (
                cleaned.get("unique_attribute") or "").strip():
            self.add_error("unique_attribute", UNIQUE_NEEDS_ATTRIBUTE)
        return cleaned


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

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        MetricPolicy.objects.update_or_create(metric=obj, defaults={
            "source": MetricSource.USAGE_EVENTS,
            "unique_attribute": (form.cleaned_data.get("unique_attribute") or "").strip()})
