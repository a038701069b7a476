"""What it costs: price lists, effective-dated duration prices with their history, and
charges (usage prices and fixed fees). Prices and charges are audited (`@audited`)."""

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Q

from audit.tracking import audited
from catalog.models.features import Service
from catalog.models.metrics import Metric, ServiceClass, TimeUnit
from core.db import TsTzRange
from core.fields import quantity_field, rate_field


class PriceListKind(models.TextChoices):
    LIST = "list", "List prices"
    OFFER = "offer", "Offer version"


class PriceList(models.Model):
    """A set of prices. Each provider has one list price list (`/system/billing`)."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=PriceListKind.choices)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


@audited()
class Price(models.Model):
    """What one unit of a metric costs over `[valid_from, valid_to)`.

    Dimensions use "" for "any": the most specific matching price wins
    (catalog/domain/matching.py). Rows are never edited in place: a change
    closes the row in force (`valid_to`) or marks scheduled rows superseded,
    and adds a new row, so an invoice line can always name the price that
    rated it. PostgreSQL keeps live rows of one key from overlapping.
    """

    price_list = models.ForeignKey(PriceList, on_delete=models.PROTECT, related_name="prices")
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="prices")
    variant = models.CharField(max_length=100, blank=True, help_text="Empty: any variant.")
    region = models.CharField(max_length=100, blank=True, help_text="Empty: any region.")
    service_class = models.CharField(
        max_length=20, blank=True, choices=ServiceClass.choices, help_text="Empty: any class."
    )
    rate = rate_field()
    time_unit = models.CharField(
        max_length=10, choices=TimeUnit.choices, blank=True,
        help_text="For resource types: the rate is per this unit of running time.",
    )
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Exclusive; empty: open.")
    superseded_at = models.DateTimeField(
        null=True, blank=True, help_text="A scheduled price replaced before it took effect."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["metric__key", "variant", "region", "service_class", "valid_from"]
        indexes = [models.Index(fields=["price_list", "metric", "valid_from"])]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gte=0), name="price_rate_not_negative"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="price_valid_from_before_valid_to",
            ),
            ExclusionConstraint(
                name="price_no_overlap_per_key",
                expressions=[
                    ("price_list", RangeOperators.EQUAL),
                    ("metric", RangeOperators.EQUAL),
                    ("variant", RangeOperators.EQUAL),
                    ("region", RangeOperators.EQUAL),
                    ("service_class", RangeOperators.EQUAL),
                    (TsTzRange("valid_from", "valid_to", models.Value("[)")),
                     RangeOperators.OVERLAPS),
                ],
                condition=Q(superseded_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        dims = "/".join(d or "*" for d in (self.variant, self.region, self.service_class))
        return f"{self.metric.key} {dims}: {self.rate} {self.get_time_unit_display()}"


class ChargeModel(models.TextChoices):
    """Usage charges (need a metric) and fixed fees (one-time, recurring monthly)."""

    PER_UNIT = "per_unit", "Per unit"
    PACKAGE = "package", "Per package of N units"
    GRADUATED = "graduated", "Graduated tiers"
    VOLUME = "volume", "Volume tiers"
    FLAT = "flat", "Flat fee per cycle (usage)"
    ONE_TIME = "one_time", "One-time charge"
    RECURRING = "recurring", "Recurring monthly charge"


USAGE_MODELS = (ChargeModel.PER_UNIT, ChargeModel.PACKAGE, ChargeModel.GRADUATED,
                ChargeModel.VOLUME, ChargeModel.FLAT)
FIXED_MODELS = (ChargeModel.ONE_TIME, ChargeModel.RECURRING)


@audited()
class Charge(models.Model):
    """A usage price or a fixed fee in a price list (list prices or an offer version).

    Duration prices of resource types stay `Price` rows (one engine for running
    time); a `Charge` prices the other aggregations and fixed fees. `tiers` is a
    list of {"up_to": "1000" or null, "unit_price": "0.1", "flat_fee": "0"} with
    inclusive bounds, the last unbounded. `amount` is the package price, the flat
    fee or the fixed fee. Charges of an offer version never change once accepted
    (a change makes a new version); list charges are effective-dated like prices.
    """

    price_list = models.ForeignKey(PriceList, on_delete=models.PROTECT, related_name="charges")
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.PROTECT, related_name="charges"
    )
    metric = models.ForeignKey(
        Metric, null=True, blank=True, on_delete=models.PROTECT, related_name="charges"
    )
    model = models.CharField(max_length=20, choices=ChargeModel.choices)
    name = models.CharField(max_length=200, help_text="Printed on invoices.")
    unit_price = rate_field(null=True, blank=True)
    package_size = quantity_field(null=True, blank=True)
    amount = rate_field(null=True, blank=True)
    tiers = models.JSONField(default=list, blank=True)
    free_units = quantity_field(default=0)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Exclusive; empty: open.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["price_list__key", "model", "name", "id"]
        constraints = [
            models.CheckConstraint(
                name="charge_usage_has_metric",
                condition=Q(model__in=FIXED_MODELS, metric__isnull=True)
                | Q(model__in=USAGE_MODELS, metric__isnull=False),
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="charge_valid_from_before_valid_to",
            ),
            models.CheckConstraint(condition=Q(free_units__gte=0),
                                   name="charge_free_units_not_negative"),
            ExclusionConstraint(
                name="charge_one_usage_price_per_metric",
                expressions=[
                    ("price_list", RangeOperators.EQUAL),
                    ("metric", RangeOperators.EQUAL),
                    (TsTzRange("valid_from", "valid_to", models.Value("[)")),
                     RangeOperators.OVERLAPS),
                ],
                condition=Q(metric__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_model_display()})"


class PriceChangeSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    COMMAND = "command", "Command"
    DEMO = "demo", "Demo data"


class PriceChange(models.Model):
    """The price history the API serves (`GET /system/billing/{type}/history`): one row
    per price set, with the rate it replaced at its effective instant, who set it, when
    (the provider's clock, a sandbox's test clock included) and through what.

    Product data, not the audit: one `price_set` writes up to three kinds of rows (the
    row in force closed, scheduled rows superseded, the new row), which the audit log
    records row by row, in wall-clock time; this row is the one business event and the
    rate it replaced, which no single row snapshot holds."""

    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="changes")
    previous_rate = rate_field(null=True, blank=True)
    effective_from = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    changed_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=PriceChangeSource.choices)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.price} from {self.effective_from:%Y-%m-%d %H:%M} by {self.changed_by}"
