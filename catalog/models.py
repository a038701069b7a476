"""The catalog: what can be consumed (metrics, resource types, variants, regions)
and what it costs (price lists and effective-dated prices)."""

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Q

from core.db import TsTzRange
from core.fields import quantity_field, rate_field

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


class Service(models.Model):
    """What a provider sells to consumers (Compute, DNS): it has features and metrics."""

    key = models.SlugField(max_length=100, unique=True, help_text=KEY_HELP)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class FeatureKind(models.TextChoices):
    FLAG = "flag", "Flag (on or off)"
    QUOTA = "quota", "Quota (a limit)"


class FeatureScope(models.TextChoices):
    # One counter for the whole billing account (e.g. seats).
    BILLING_ACCOUNT = "billing_account", "Per billing account"
    # One counter per project of the account (e.g. DNS zones per project).
    PROJECT = "project", "Per project"


class Feature(models.Model):
    """Something of a service an offer may enable: a flag, or a quota with a limit."""

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="features")
    key = models.CharField(
        max_length=100, unique=True, help_text="e.g. dns.zones; " + KEY_HELP
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=FeatureKind.choices)
    scope = models.CharField(
        max_length=20, choices=FeatureScope.choices, default=FeatureScope.BILLING_ACCOUNT
    )
    default_limit = quantity_field(
        null=True, blank=True, help_text="Quotas: the limit an offer grants unless it says."
    )
    unit = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                name="feature_quota_has_default_limit",
                condition=Q(kind=FeatureKind.FLAG, default_limit__isnull=True)
                | Q(kind=FeatureKind.QUOTA, default_limit__gte=0),
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Metric(models.Model):
    """A measurable quantity. A chargeback resource type (instance, disk, vpc, ip)
    is a metric aggregated by running time, so both seeds share one rating path."""

    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.PROTECT, related_name="metrics",
        help_text="The service whose entitlements cover this metric (offers).",
    )
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


class MetricSource(models.TextChoices):
    USAGE_EVENTS = "usage_events", "Usage events"
    LIFECYCLE = "lifecycle", "Resource lifecycle events (running time)"


class MetricPolicy(models.Model):
    """How a metric is produced: from usage events (optionally only those whose
    attributes match) or from resources' lifecycle events (running time)."""

    metric = models.OneToOneField(Metric, on_delete=models.CASCADE, related_name="policy")
    source = models.CharField(max_length=20, choices=MetricSource.choices)
    unique_attribute = models.CharField(
        max_length=100, blank=True,
        help_text="Unique count: the attribute whose distinct values are counted.",
    )
    description = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "metric policies"

    def __str__(self) -> str:
        return f"{self.metric.key} from {self.get_source_display()}"


class ResourceTypeManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(aggregation=Aggregation.DURATION)


class ResourceType(Metric):
    """The chargeback view of a metric: things that run and are billed by time."""

    objects = ResourceTypeManager()

    class Meta:
        proxy = True
        ordering = ["key"]


class UsageMetricManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().exclude(aggregation=Aggregation.DURATION)


class UsageMetric(Metric):
    """The consumer view of a metric: measured from usage events (not running time)."""

    objects = UsageMetricManager()

    class Meta:
        proxy = True
        ordering = ["key"]
        verbose_name = "usage metric"


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


class Offer(models.Model):
    """A bundle of services' prices, features and quotas consumers accept (Free, Pro)."""

    key = models.SlugField(max_length=100, unique=True, help_text=KEY_HELP)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    public = models.BooleanField(
        default=True, help_text="Listed to every consumer; a private offer is accepted "
        "for an account by a fleet admin."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class OfferVersion(models.Model):
    """What an offer was at one time: its price list (kind "offer"), services, features.

    A version accepted by any billing account never changes: revising the offer
    then makes a new version, and entitlements keep pointing at theirs.
    """

    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    price_list = models.OneToOneField(
        PriceList, on_delete=models.PROTECT, related_name="offer_version"
    )
    services = models.ManyToManyField(Service, related_name="offer_versions", blank=True)
    notes = models.TextField(blank=True, help_text="What changed in this version.")
    accepted_at = models.DateTimeField(
        null=True, blank=True, help_text="First accepted; from then on the version never changes."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["offer__key", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "number"], name="offer_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.offer.name} v{self.number}"


class OfferFeature(models.Model):
    """A feature an offer version enables; quotas carry their limit."""

    version = models.ForeignKey(OfferVersion, on_delete=models.CASCADE, related_name="features")
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="+")
    limit = quantity_field(
        null=True, blank=True, help_text="Quotas; empty: the feature's default limit."
    )

    class Meta:
        ordering = ["feature__key"]
        constraints = [
            models.UniqueConstraint(fields=["version", "feature"],
                                    name="offer_feature_unique_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.version}: {self.feature.key}"


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
