"""The usage store: resources and their lifecycle events (append-only).

Knows the catalog's metrics and the accounts' projects, nothing of invoices.
"""

from django.conf import settings
from django.db import models

from accounts.models import Project
from catalog.models import Metric, ServiceClass


class LifecycleKind(models.TextChoices):
    CREATED = "created", "Created"
    STARTED = "started", "Started"
    STOPPED = "stopped", "Stopped"
    RESIZED = "resized", "Resized"
    DELETED = "deleted", "Deleted"


class Resource(models.Model):
    """Something that runs and is billed by time: an instance, a disk, an IP.

    Its running intervals derive from its lifecycle events. `variant` is the
    latest one; each event carries the variant in force from its instant.
    """

    resource_id = models.CharField(max_length=200, unique=True)
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="resources")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="resources")
    variant = models.CharField(max_length=100)
    region = models.CharField(max_length=100)
    service_class = models.CharField(
        max_length=20, choices=ServiceClass.choices, default=ServiceClass.STANDARD
    )
    # The resource this one depends on (a disk or NIC attached to an instance):
    # SLA credits on the parent cover its dependents too.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="dependents"
    )
    attributes = models.JSONField(default=dict, blank=True)
    # The user of the project's organization who created it, when the sender says:
    # spend per user groups the resource's lines by it (seed 002). Set once, at creation.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["resource_id"]
        indexes = [models.Index(fields=["project", "metric"])]

    def __str__(self) -> str:
        return self.resource_id


class LifecycleEvent(models.Model):
    """One change of a resource's state. Unique by the sender's event id."""

    event_id = models.CharField(max_length=200, unique=True)
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=10, choices=LifecycleKind.choices)
    occurred_at = models.DateTimeField()
    variant = models.CharField(max_length=100)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["resource_id", "occurred_at", "id"]
        indexes = [models.Index(fields=["resource", "occurred_at"]),
                   models.Index(fields=["occurred_at"])]

    def __str__(self) -> str:
        return f"{self.resource_id} {self.kind} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class IngestionOutcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    DUPLICATE = "duplicate", "Duplicate"
    REFUSED = "refused", "Refused"


class IngestionDay(models.Model):
    """Counts of what ingestion accepted, found duplicate and refused, per day and
    stream: ingestion health for operators, without scanning the usage store."""

    day = models.DateField()
    stream = models.CharField(max_length=20)  # "lifecycle" or "usage"
    accepted = models.BigIntegerField(default=0)
    duplicate = models.BigIntegerField(default=0)
    refused = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "stream"]
        constraints = [
            models.UniqueConstraint(fields=["day", "stream"], name="ingestion_day_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.stream}"


class UsageEvent(models.Model):
    """One measurement of a metric for a project (append-only). Unique by the sender's id.

    Kept whether or not an entitlement covers it: usage no entitlement covers is
    reported to operators as unentitled, never dropped.
    """

    event_id = models.CharField(max_length=200, unique=True)
    # No index of their own (migration 0004): the (project, metric, occurred_at) index
    # serves project lookups, nothing looks usage up by metric alone, and each index
    # is paid by every ingested event.
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="usage_events",
                               db_index=False)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="usage_events",
                                db_index=False)
    occurred_at = models.DateTimeField()
    value = models.DecimalField(max_digits=30, decimal_places=10)
    attributes = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["occurred_at"]),
                   models.Index(fields=["project", "metric", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.event_id}: {self.metric_id} {self.value}"


class LateEvent(models.Model):
    """An event refused because its billing cycle was already finalized: kept here, in
    the late-usage report, so nothing sent to Tally disappears silently. Operators
    correct the month with a credit note; the event itself is never billed.

    One row per stream and event id: a re-sent late event counts as received again.
    """

    stream = models.CharField(max_length=20)  # "lifecycle" or "usage"
    event_id = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    cycle = models.CharField(max_length=7, help_text="The finalized cycle (YYYY-MM).")
    project = models.CharField(max_length=100)
    subject = models.CharField(
        max_length=200, blank=True, help_text="The resource (lifecycle) or the metric (usage)."
    )
    summary = models.CharField(max_length=300, help_text="What the event said.")
    details = models.JSONField(default=dict, blank=True)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    received_count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-last_received_at", "stream", "event_id"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "event_id"], name="late_event_unique"),
        ]
        indexes = [models.Index(fields=["cycle", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.stream} {self.event_id} ({self.cycle})"
