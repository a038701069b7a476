"""What can be consumed: metrics (a resource type is a metric billed by running time),
how each is produced, variants and regions."""

from django.db import models

from audit.tracking import audited
from catalog.models.features import KEY_HELP, Service


class Aggregation(models.TextChoices):
    SUM = "sum", "Sum"
    COUNT = "count", "Count"
    MAX = "max", "Maximum"
    UNIQUE_COUNT = "unique_count", "Unique count"
    LATEST = "latest", "Latest value"
    # A gauge: each reading holds until the next; billed by its average over the cycle.
    TIME_WEIGHTED_AVERAGE = "time_weighted_average", "Time-weighted average (gauge)"
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


@audited()
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
    aggregation = models.CharField(max_length=30, choices=Aggregation.choices)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class MetricSource(models.TextChoices):
    USAGE_EVENTS = "usage_events", "Usage events"
    LIFECYCLE = "lifecycle", "Resource lifecycle events (running time)"


class OtelValue(models.TextChoices):
    """Which number of an OpenTelemetry data point becomes a usage event's value."""

    VALUE = "value", "The point's value (sums: the delta; gauges: the reading)"
    HISTOGRAM_COUNT = "count", "Histogram: how many observations"
    HISTOGRAM_SUM = "sum", "Histogram: the sum of the observations"


OTEL_PROJECT_ATTRIBUTE = "tally.project"


@audited()
class MetricPolicy(models.Model):
    """How a metric is produced: from usage events (optionally only those whose
    attributes match) or from resources' lifecycle events (running time); and, for
    OpenTelemetry exports (POST /api/v1/otlp/v1/metrics), which OTel metric feeds it,
    which attribute names the project and which number of each point is the value."""

    metric = models.OneToOneField(Metric, on_delete=models.CASCADE, related_name="policy")
    source = models.CharField(max_length=20, choices=MetricSource.choices)
    unique_attribute = models.CharField(
        max_length=100, blank=True,
        help_text="Unique count: the attribute whose distinct values are counted.",
    )
    description = models.TextField(blank=True)
    otel_metric_name = models.CharField(
        max_length=255, blank=True, db_index=True,
        help_text="The OpenTelemetry metric (instrument) name that feeds this metric over "
        "OTLP, e.g. http.server.request.count; empty: none.",
    )
    otel_project_attribute = models.CharField(
        max_length=255, blank=True, default=OTEL_PROJECT_ATTRIBUTE,
        help_text="The data point (or resource) attribute that carries the project's name.",
    )
    otel_value = models.CharField(
        max_length=10, choices=OtelValue.choices, default=OtelValue.VALUE,
        help_text="Sums and gauges give their value; a histogram its count or its sum.",
    )

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


@audited()
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


@audited()
class Region(models.Model):
    key = models.SlugField(max_length=100, unique=True, help_text=KEY_HELP)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


@audited()
class ResourceTypeDependency(models.Model):
    """A resource type whose resources depend on another type's (a disk attached to an
    instance). An SLA credit on a resource covers the resources that depend on it; this
    row says, per pair of types, whether it does (`credit_cascades`): a credited instance
    brings its disks, perhaps not its public IPs."""

    resource_type = models.ForeignKey(Metric, on_delete=models.CASCADE,
                                      related_name="dependencies")
    depends_on = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="dependents")
    credit_cascades = models.BooleanField(
        default=True, help_text="A credit on the resource it depends on covers it too.")

    class Meta:
        ordering = ["depends_on__key", "resource_type__key"]
        verbose_name_plural = "resource type dependencies"
        constraints = [
            models.UniqueConstraint(fields=["resource_type", "depends_on"],
                                    name="resource_type_dependency_unique"),
            models.CheckConstraint(condition=~models.Q(resource_type=models.F("depends_on")),
                                   name="resource_type_dependency_not_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type.key} depends on {self.depends_on.key}"
