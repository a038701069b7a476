"""The fleet price list in the admin.

Prices are history: a Price row is never edited in place. "Add price" (and the
"Set a new price" action and links) collects the key, the rate, the unit of time
and an optional effective instant, and calls `catalog.services.list_prices.price_set`,
which closes or supersedes what it replaces and writes the history row. Only fleet
billing admins (superusers included) may set prices or edit the catalog; fleet
viewers may look.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminSplitDateTimeWidget,
    UnfoldAdminTextInputWidget,
)

from audit.admin import AuditHistoryMixin
from catalog.admin.base import FleetAdminOnly
from catalog.models import (
    Aggregation,
    Metric,
    Price,
    PriceChange,
    PriceChangeSource,
    Region,
    ServiceClass,
    TimeUnit,
    Variant,
)
from catalog.previews import previews_available, price_change_impact
from catalog.services.list_prices import price_set
from core.timefmt import datetime_text
from cycles.clock import clock_now
from tenancy.selectors import provider_current

PRICE_SET = "The price of {key} is now {rate} {unit} from {when}."
PRICE_UNCHANGED = "{key} already costs {rate} {unit} from {when}: nothing changed."
CHOOSE_ONE_PRICE = "Choose exactly one price to set a new price for its key."
TIME_ZONE_NOTE = "Times are in UTC."
# Posted by the impact preview's "Confirm and save": the change was seen, save it.
CONFIRMED = "_confirmed"


class PriceSetForm(forms.Form):
    """What setting a price needs; validation of the rules is the service's."""

    metric = forms.ModelChoiceField(
        queryset=Metric.objects.filter(aggregation=Aggregation.DURATION).order_by("key"),
        to_field_name="key",
        label="Resource type",
        widget=UnfoldAdminSelectWidget,
    )
    variant = forms.ChoiceField(required=False, help_text="Empty: any variant.",
                                widget=UnfoldAdminSelectWidget)
    region = forms.ChoiceField(required=False, help_text="Empty: any region.",
                               widget=UnfoldAdminSelectWidget)
    service_class = forms.ChoiceField(
        required=False,
        choices=[("", "Any class")] + list(ServiceClass.choices),
        label="Service class",
        widget=UnfoldAdminSelectWidget,
    )
    rate = forms.DecimalField(
        widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal", "size": 20}),
        help_text="Money per unit of time, up to 10 decimal places. 0 is allowed.",
    )
    time_unit = forms.ChoiceField(
        choices=[("", "---------")] + list(TimeUnit.choices), required=False,
        label="Unit of time", widget=UnfoldAdminSelectWidget,
    )
    effective_from = forms.SplitDateTimeField(
        required=False,
        widget=UnfoldAdminSplitDateTimeWidget,
        label="Effective from",
        help_text=(
            f"{TIME_ZONE_NOTE} Empty: from the start of the current billing cycle, so the "
            "whole open cycle is billed at the new price. Must not fall in a finalized cycle."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The split widget's two inputs share one <label>: each gets its own name.
        date_input, time_input = self.fields["effective_from"].widget.widgets
        date_input.attrs["aria-label"] = "Effective from: date"
        time_input.attrs["aria-label"] = "Effective from: time"
        by_metric: dict[str, list[tuple[str, str]]] = {}
        for metric_name, key, description in Variant.objects.filter(
            metric__aggregation=Aggregation.DURATION
        ).values_list("metric__name", "key", "description"):
            by_metric.setdefault(metric_name, []).append((key, f"{key}: {description}"))
        self.fields["variant"].choices = [("", "Any variant")] + sorted(by_metric.items())
        self.fields["region"].choices = [("", "Any region")] + [
            (key, f"{name} ({key})") for key, name in Region.objects.values_list("key", "name")
        ]


class AnyWhenEmptyFilter(admin.AllValuesFieldListFilter):
    """A field's values as filter links, the empty one ("any region") named: a link with
    no text is unreadable to a screen reader (axe `link-name`)."""

    def choices(self, changelist):
        for choice in super().choices(changelist):
            if choice["display"] == "":
                choice = {**choice, "display": "any"}
            yield choice


class PriceStatusFilter(admin.SimpleListFilter):
    """Which rows the price list shows. By default the live ones (in force or scheduled):
    a superseded row (a scheduled price replaced before it took effect) or a closed one
    would otherwise sit beside its replacement looking the same. The history of changes,
    one row per change with its effective range, is the Price history page."""

    title = "status"
    parameter_name = "status"
    DEFAULT = "live"

    def lookups(self, request, model_admin):
        return [
            ("live", "Current and scheduled"),
            ("current", "Current"),
            ("scheduled", "Scheduled"),
            ("closed", "Closed"),
            ("superseded", "Superseded"),
            ("all", "All rows"),
        ]

    def value(self):
        return super().value() or self.DEFAULT

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        now = clock_now()
        live = queryset.filter(superseded_at__isnull=True)
        not_ended = Q(valid_to__isnull=True) | Q(valid_to__gt=now)
        match self.value():
            case "live":
                return live.filter(not_ended)
            case "current":
                return live.filter(not_ended, valid_from__lte=now)
            case "scheduled":
                return live.filter(valid_from__gt=now)
            case "closed":
                return live.filter(valid_to__lte=now)
            case "superseded":
                return queryset.filter(superseded_at__isnull=False)
        return queryset


def effective_range_text(start, end) -> str:
    """"1 Nov 2026, 00:00 → open" in the zone of the request (the provider's)."""
    zone = timezone.get_current_timezone()
    until = datetime_text(end, zone, named=False) if end else "open"
    return f"{datetime_text(start, zone, named=False)} → {until}"


def price_key_text(price: Price) -> str:
    """"instance 4cpu-16gb / mars / any class" style label of a price's key."""
    variant = price.variant or "any variant"
    region = price.region or "any region"
    service_class = price.service_class or "any class"
    return f"{price.metric.key} {variant} / {region} / {service_class}"


def price_status(price: Price, now) -> str:
    if price.superseded_at is not None:
        return "superseded"
    if price.valid_to is not None and price.valid_to <= now:
        return "closed"
    if price.valid_from > now:
        return "scheduled"
    return "current"


@admin.register(Price)
class PriceAdmin(AuditHistoryMixin, FleetAdminOnly, admin.ModelAdmin):
    # Six columns: the list fits a 1280 px screen beside the menu.
    list_display = ("resource_type", "key_shown", "rate_shown", "effective", "status",
                    "set_new_price")
    list_filter = (PriceStatusFilter, ("metric", admin.RelatedOnlyFieldListFilter),
                   ("region", AnyWhenEmptyFilter), "service_class", "time_unit")
    list_per_page = 50
    search_fields = ("metric__key", "metric__name", "variant", "region")
    list_select_related = ("metric",)
    ordering = ("metric__key", "variant", "region", "service_class", "-valid_from")
    date_hierarchy = "valid_from"
    actions = ["set_new_price_action"]
    readonly_fields = (
        "price_list", "metric", "variant", "region", "service_class", "rate", "time_unit",
        "valid_from", "valid_to", "superseded_at", "created_by", "created_at", "status",
        "set_new_price",
    )
    fields = readonly_fields

    def has_change_permission(self, request, obj=None):
        # A price row is history: it is never edited in place.
        return False

    @admin.display(description="resource type", ordering="metric__key")
    def resource_type(self, obj):
        return obj.metric.key

    @admin.display(description="rate", ordering="rate")
    def rate_shown(self, obj):
        # Rates keep 10 places; show them as entered ("0.05", not "0.0500000000").
        return f"{format(obj.rate.normalize(), 'f')} / {obj.time_unit or 'unit'}"

    @admin.display(description="variant / region / class", ordering="variant")
    def key_shown(self, obj):
        return " / ".join(d or "any" for d in (obj.variant, obj.region, obj.service_class))

    @admin.display(description="effective", ordering="valid_from")
    def effective(self, obj):
        return effective_range_text(obj.valid_from, obj.valid_to)

    @admin.display(description="variant", ordering="variant")
    def variant_shown(self, obj):
        return obj.variant or "any"

    @admin.display(description="region", ordering="region")
    def region_shown(self, obj):
        return obj.region or "any"

    @admin.display(description="class", ordering="service_class")
    def class_shown(self, obj):
        return obj.service_class or "any"

    @admin.display(description="status")
    def status(self, obj):
        return price_status(obj, clock_now())

    @admin.display(description="")
    def set_new_price(self, obj):
        return format_html('<a href="{}">set a new price</a>', self._set_url(obj))

    def _set_url(self, obj) -> str:
        query = {
            "metric": obj.metric.key, "variant": obj.variant, "region": obj.region,
            "service_class": obj.service_class, "time_unit": obj.time_unit,
        }
        return reverse("admin:catalog_price_add") + "?" + urlencode(query)

    @admin.action(description="Set a new price for the selected key", permissions=["add"])
    def set_new_price_action(self, request, queryset):
        prices = list(queryset.select_related("metric")[:2])
        if len(prices) != 1:
            self.message_user(request, CHOOSE_ONE_PRICE, messages.WARNING)
            return None
        return HttpResponseRedirect(self._set_url(prices[0]))

    # It only opens the "Set a price" form, which shows the impact before saving.
    set_new_price_action.needs_confirmation = False

    def add_view(self, request, form_url="", extra_context=None):
        """Setting a price: a form whose only write is `price_set`."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        impact = None
        if request.method == "POST":
            form = PriceSetForm(request.POST)
            if form.is_valid():
                if request.POST.get(CONFIRMED) == "yes" or not previews_available():
                    response = self._set_price(request, form)
                    if response is not None:
                        return response
                else:
                    impact = self._impact(request, form)
        else:
            initial = {
                name: request.GET[name]
                for name in ("metric", "variant", "region", "service_class", "time_unit")
                if name in request.GET
            }
            form = PriceSetForm(initial=initial)

        fieldsets = [
            (None, {"fields": ["metric", "variant", "region", "service_class"]}),
            ("Price", {"fields": ["rate", "time_unit", "effective_from"]}),
        ]
        admin_form = helpers.AdminForm(form, fieldsets, {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": "Set a price",
            "subtitle": None,
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "impact": impact,
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, form_url=form_url)

    def _impact(self, request, form):
        """The change's impact on the open cycle (rated with and without it, nothing kept;
        catalog/previews.py), or None with the change's refusal on the form."""
        now = clock_now()
        try:
            return price_change_impact(
                apply=lambda: self._price_set_call(request, form, now=now), now=now)
        except ValidationError as invalid:
            for field, reasons in invalid.message_dict.items():
                form.add_error(field if field in form.fields else None, reasons)
            return None

    def _price_set_call(self, request, form, now=None):
        data = form.cleaned_data
        return price_set(
            metric_key=data["metric"].key,
            variant=data["variant"],
            region=data["region"],
            service_class=data["service_class"],
            rate=data["rate"],
            time_unit=data["time_unit"],
            effective_from=data["effective_from"],
            now=now or clock_now(),
            actor=request.user,
            source=PriceChangeSource.ADMIN,
        )

    def _set_price(self, request, form):
        now = clock_now()
        try:
            price = self._price_set_call(request, form, now=now)
        except ValidationError as invalid:
            for field, reasons in invalid.message_dict.items():
                form.add_error(field if field in form.fields else None, reasons)
            return None
        # A repeated change returns the row in force and writes no history row.
        changed = PriceChange.objects.filter(price=price, changed_at=now).exists()
        price.refresh_from_db()
        template = PRICE_SET if changed else PRICE_UNCHANGED
        self.message_user(
            request,
            template.format(
                key=price_key_text(price), rate=format(price.rate.normalize(), "f"),
                unit=price.get_time_unit_display(),
                when=datetime_text(price.valid_from, provider_current().billing_timezone),
            ),
            messages.SUCCESS if changed else messages.INFO,
        )
        if "_addanother" in request.POST:
            return HttpResponseRedirect(request.path)
        if "_continue" in request.POST:
            return HttpResponseRedirect(reverse("admin:catalog_price_change", args=[price.pk]))
        return HttpResponseRedirect(reverse("admin:catalog_price_changelist"))


@admin.register(PriceChange)
class PriceChangeAdmin(FleetAdminOnly, admin.ModelAdmin):
    """The price history: one row per change (a `price_set`), with the range it was in
    effect: from its effective instant until the next change of the key took over (the
    row's `valid_to`), "open" while in force, or "superseded by a later change". Read-only
    (who changed what row by row: the audit log)."""

    list_display = ("changed_at", "resource_type", "key", "rate_change", "effective",
                    "changed_by", "source")
    list_filter = ("source", ("price__metric", admin.RelatedOnlyFieldListFilter),
                   "price__region", "price__service_class")
    search_fields = ("price__metric__key", "price__variant", "price__region",
                     "changed_by__username")
    list_select_related = ("price__metric", "changed_by")
    date_hierarchy = "changed_at"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="resource type", ordering="price__metric__key")
    def resource_type(self, obj):
        return obj.price.metric.key

    @admin.display(description="variant / region / class")
    def key(self, obj):
        price = obj.price
        return " / ".join(d or "any" for d in (price.variant, price.region, price.service_class))

    @admin.display(description="rate")
    def rate_change(self, obj):
        unit = obj.price.time_unit or "unit"
        new = format(obj.price.rate.normalize(), "f")
        if obj.previous_rate is None:
            return f"{new} / {unit} (first price)"
        return f"{format(obj.previous_rate.normalize(), 'f')} → {new} / {unit}"

    @admin.display(description="in effect", ordering="effective_from")
    def effective(self, obj):
        if obj.price.superseded_at is not None:
            # A later change took over from the same instant or before this one began.
            return "superseded by a later change"
        return effective_range_text(obj.effective_from, obj.price.valid_to)
