"""The provider's billing calendar: one stored cycle per billing month."""

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
