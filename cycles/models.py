"""The provider's billing calendar: one stored cycle per billing month."""

from django.conf import settings
from django.db import models


class CycleStatus(models.TextChoices):
    OPEN = "open", "Open"
    # Past its end plus grace: no more usage or price changes are accepted for it,
    # its invoices are being finalized.
    CLOSING = "closing", "Closing"
    # Every invoice of the cycle is finalized.
    CLOSED = "closed", "Closed"


class BillingCycle(models.Model):
    """A calendar month in the provider's billing time zone, stored as UTC `[start, end)`.

    Stored rather than recomputed, so a later change of the provider's time zone
    never moves a cycle that was already billed.
    """

    start = models.DateTimeField(unique=True)
    end = models.DateTimeField(unique=True)
    label = models.CharField(max_length=7, unique=True, help_text="YYYY-MM in the billing zone")
    status = models.CharField(max_length=10, choices=CycleStatus.choices, default=CycleStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=models.Q(start__lt=models.F("end")),
                                   name="cycle_start_before_end"),
        ]

    def __str__(self) -> str:
        return self.label


class ClockStatus(models.TextChoices):
    """A sandbox clock's state, as Stripe's test clocks report it."""

    READY = "ready", "Ready"
    # Moving towards `advancing_to`, running the work due on the way.
    ADVANCING = "advancing", "Advancing"
    # A step's work failed: the clock stopped where it was; advance again to resume.
    FAILED = "failed", "Failed"


class SandboxClock(models.Model):
    """A sandbox provider's clock: the instant "now" is for everything in its schema.

    One row, made when the sandbox is created (frozen at that instant, or at the one its
    creator chose). It moves only forward, when told to (`cycles.clock_advance`), and
    step by step (`cycles.clock_run`), so work due on the way happens at its time. A live
    provider has no row: it runs on real time.
    """

    frozen_time = models.DateTimeField(help_text="The clock's instant: now, in this sandbox.")
    status = models.CharField(max_length=10, choices=ClockStatus.choices,
                              default=ClockStatus.READY)
    advancing_to = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "test clock"
        constraints = [
            # The provider's one clock.
            models.CheckConstraint(condition=models.Q(id=1), name="sandbox_clock_one_row"),
            models.CheckConstraint(
                condition=models.Q(advancing_to__isnull=True)
                | models.Q(advancing_to__gte=models.F("frozen_time")),
                name="sandbox_clock_moves_forward",
            ),
        ]

    def __str__(self) -> str:
        return f"clock at {self.frozen_time.isoformat()} ({self.status})"


class ClockAdvance(models.Model):
    """The audit trail of a sandbox clock: who moved it, from when to when, and how it
    went. `requested_at` and `finished_at` are real time (when it happened on Earth)."""

    from_time = models.DateTimeField()
    to_time = models.DateTimeField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    requested_by_name = models.CharField(max_length=150, blank=True)
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ClockStatus.choices,
                              default=ClockStatus.ADVANCING)
    steps = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(from_time__lt=models.F("to_time")),
                                   name="clock_advance_forward"),
        ]

    def __str__(self) -> str:
        return f"{self.from_time.isoformat()} -> {self.to_time.isoformat()}"
