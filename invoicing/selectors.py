"""Reads of invoicing that other apps rely on: where the billing calendar stands."""

from datetime import datetime

from django.db.models import Max

from billing.periods import Period, month_containing
from invoicing.models import BillingCycle, CycleStatus
from tenancy.selectors import provider_current

FINALIZED_CYCLE = (
    "{when} falls in the billing cycle {label}, which is finalized: its invoices never change"
)


def billing_period_containing(t: datetime) -> Period:
    """The calendar month (in the provider's billing time zone) that contains `t`."""
    return month_containing(t, provider_current().billing_timezone)


def finalized_until() -> datetime | None:
    """The end of the provider's last finalized cycle: nothing before it may change."""
    return BillingCycle.objects.filter(status=CycleStatus.CLOSED).aggregate(end=Max("end"))["end"]


def finalized_cycle_label_at(t: datetime) -> str | None:
    """The label of the finalized cycle containing `t`, if there is one."""
    cycle = (
        BillingCycle.objects.filter(status=CycleStatus.CLOSED, start__lte=t, end__gt=t)
        .only("label")
        .first()
    )
    return cycle.label if cycle else None
