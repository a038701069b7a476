"""The catalog: what can be consumed (metrics, resource types, variants, regions)
and what it costs (price lists and effective-dated prices)."""

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Q

from billing.db import TsTzRange
from billing.fields import rate_field

KEY_HELP = "Lowercase letters, digits, '.', '_' and '-': how the API and events name it."


class Aggregation(models.TextChoices):
    SUM = "sum", "Sum"
    COUNT = "count", "Count"
    MAX = "max", "Maximum"
    UNIQUE_COUNT = "unique_count", "Unique count"
    LATEST = "latest", "Latest value"
    # Running time of resources, from their lifecycle events (the chargeback model).
    DURATION = "duration", "Running time"


class ServiceClass(models.TextChoices):
    STANDARD = "standard", "Standard"
    SPOT = "spot", "Spot"


class TimeUnit(models.TextChoices):
    SECOND = "second", "per second"
    MINUTE = "minute", "per minute"
    HOUR = "hour", "per hour"
    DAY = "day", "per day"


class Metric(models.Model):
    """A measurable quantity. A chargeback resource type (instance, disk, vpc, ip)
    is a metric aggregated by running time, so both seeds share one rating path."""

    key = models.SlugField(max_length=100, unique=True, help_text=KEY_HELP)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=50, blank=True, help_text="e.g. GB, request, instance")
    aggregation = models.CharField(max_length=20, choices=Aggregation.choices)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class ResourceTypeManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(aggregation=Aggregation.DURATION)


class ResourceType(Metric):
    """The chargeback view of a metric: things that run and are billed by time."""

    objects = ResourceTypeManager()

    class Meta:
        proxy = True
        ordering = ["key"]


class Variant(models.Model):
    """A machine type or size of a resource type (e.g. 4cpu-16gb, 500gb)."""

    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="variants")
    key = models.CharField(max_length=100, help_text=KEY_HELP)
    description = models.CharField(
        max_length=200, help_text="Printed on invoices, e.g. '4 CPU, 16 GB Memory'."
    )

    class Meta:
        ordering = ["metric__key", "key"]
        constraints = [
            models.UniqueConstraint(fields=["metric", "key"], name="variant_unique_per_metric"),
        ]

    def __str__(self) -> str:
        return f"{self.metric.key}/{self.key}"


class Region(models.Model):
    key = models.SlugField(max_length=100, unique=True, help_text=KEY_HELP)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


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


class PriceChangeSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    COMMAND = "command", "Command"
    DEMO = "demo", "Demo data"


class PriceChange(models.Model):
    """The audit trail of prices: every change, who made it, when, and from when."""

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
