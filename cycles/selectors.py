"""Reads of the billing calendar: which month holds an instant, which cycles are frozen."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Max

from core.periods import Period, month_containing, parse_month
from cycles.models import BillingCycle, CycleStatus
from tenancy.selectors import provider_current

# A closing cycle is being finalized and takes no more usage or prices, like a closed one.
FROZEN = (CycleStatus.CLOSING, CycleStatus.CLOSED)


def billing_period_containing(t: datetime) -> Period:
    """The calendar month (in the provider's billing time zone) that contains `t`."""
    return month_containing(t, provider_current().billing_timezone)


def month_label(t: datetime) -> str:
    """`YYYY-MM` of the billing month containing `t`, in the provider's billing zone."""
    zone = ZoneInfo(provider_current().billing_timezone)
    return billing_period_containing(t).start.astimezone(zone).strftime("%Y-%m")


def billing_start_at() -> datetime:
    """The first instant the provider bills: its `billing_start`, or else the start of
    the billing month it was created in. Nothing dated before it is accepted."""
    provider = provider_current()
    if provider.billing_start is not None:
        return provider.billing_start
    return month_containing(provider.created_at, provider.billing_timezone).start


def month_label_of(period: Period) -> str:
    """`YYYY-MM` of a billing month (a Period from `month_containing`)."""
    zone = ZoneInfo(provider_current().billing_timezone)
    return period.start.astimezone(zone).strftime("%Y-%m")


def finalized_until() -> datetime | None:
    """The end of the provider's last closing or finalized cycle: nothing before it may
    change."""
    return BillingCycle.objects.filter(status__in=FROZEN).aggregate(end=Max("end"))["end"]


def cycle_for_label(label: str | None, *, now: datetime,
                    using: str | None = None) -> BillingCycle | None:
    """The cycle named `YYYY-MM`, or the one containing `now` when no label is given.
    `using`: a database alias (the dashboards pass `core.replica.read_alias()`)."""
    cycles = BillingCycle.objects.using(using)
    if label:
        parse_month(label)  # ValueError with a clear message for a malformed label
        return cycles.filter(label=label).first()
    return cycles.filter(start__lte=now, end__gt=now).first()


def cycles_list(*, using: str | None = None) -> list[BillingCycle]:
    """Every cycle of the provider, oldest first."""
    return list(BillingCycle.objects.using(using).order_by("start"))


def cycles_open_started(*, now: datetime) -> list[BillingCycle]:
    """Open cycles that have begun, oldest first: what a rating run covers."""
    return list(BillingCycle.objects.filter(status=CycleStatus.OPEN, start__lte=now)
                .order_by("start"))
