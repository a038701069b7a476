"""Writes to the billing calendar: cycles are created when something dated in them arrives.

A provider's cycles are the calendar months of its billing time zone from its billing
start on. None is made ahead of need: a month gets its cycle when something dated in
it is written (an event, a price, an assignment, a credit, an entitlement), when an
operator opens it explicitly, when it is the current month, or when something still
ran at the end of the month before it (invoicing's carry-over). A month nobody bills
never gets one. Every dated write path calls `cycles_ensure_for` with the instants it
accepted, after cycles.guard refused the ones it cannot take.
"""

import logging
from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction

from core.errors import Conflict
from core.periods import Period, month_containing, month_period, parse_month
from cycles.guard import BeforeBillingStart, CycleFinalized
from cycles.models import BillingCycle
from cycles.selectors import billing_start_at, finalized_until, month_label, month_label_of
from tenancy.selectors import provider_current

logger = logging.getLogger(__name__)

MONTH_NOT_BEGUN = (
    "{label} has not begun: a month's cycle opens once something happens in it (or on "
    "its first day), never ahead of time"
)
START_AFTER_CYCLES = (
    "the billing start cannot move to {label}: the cycle {first} starts before it and "
    "holds what was billed there"
)
START_IN_FINALIZED = (
    "the billing start cannot move to {label}: cycles up to {until} are finalized, and "
    "invoices are numbered in cycle order, so no month can be added before them"
)


def cycles_ensure_for(*, instants: Iterable[datetime], now: datetime) -> list[BillingCycle]:
    """The cycles of the billing months holding `instants`, made when missing; safe to
    repeat and to run concurrently. Returns the ones it made.

    Instants the calendar does not take make no cycle: before the billing start, in
    the finalized past, or more than the future horizon ahead of `now` (callers have
    refused them with cycles.guard; a price scheduled far ahead makes its month's
    cycle only once that month is near). One query when every instant already has its
    cycle (the usual batch), whatever the number of instants.
    """
    provider = provider_current()
    latest = now + provider.future_horizon
    near = {t for t in instants if t <= latest}
    if not near:
        return []
    earliest = max(filter(None, (billing_start_at(), finalized_until())))
    wanted = sorted(t for t in near if t >= earliest)
    if not wanted:
        return []
    existing = list(BillingCycle.objects.filter(start__lte=wanted[-1], end__gt=wanted[0])
                    .order_by("start").values_list("start", "end"))
    starts = [start for start, _ in existing]
    missing: list[Period] = []
    for t in wanted:
        if missing and t < missing[-1].end:
            continue  # in the month just found missing
        index = bisect_right(starts, t) - 1
        if index >= 0 and t < existing[index][1]:
            continue
        missing.append(month_containing(t, provider.billing_timezone))
    return _cycles_create(missing)


def _cycles_create(periods: list[Period]) -> list[BillingCycle]:
    if not periods:
        return []
    rows = [BillingCycle(start=p.start, end=p.end, label=month_label_of(p)) for p in periods]
    # A concurrent batch may make the same month: its row is as good as ours.
    BillingCycle.objects.bulk_create(rows, ignore_conflicts=True)
    made = list(BillingCycle.objects.filter(start__in=[p.start for p in periods]))
    logger.info("billing cycles ensured: %s", ", ".join(c.label for c in made))
    return made


def cycles_ensure(*, now: datetime) -> BillingCycle | None:
    """The cycle of the month containing `now` (made when missing), or None before the
    billing start: the month a live provider is billing in."""
    cycles_ensure_for(instants=[now], now=now)
    return BillingCycle.objects.filter(start__lte=now, end__gt=now).first()


def _month(month: str, *, field: str = "month") -> tuple[str, Period]:
    try:
        year, number = parse_month(month)
    except ValueError as error:
        raise ValidationError({field: [str(error)]}) from None
    period = month_period(year, number, provider_current().billing_timezone)
    return f"{year:04d}-{number:02d}", period


def cycle_open(*, month: str, now: datetime) -> tuple[BillingCycle, bool]:
    """Open the cycle of `month` (YYYY-MM) explicitly: (the cycle, whether it was made).

    Refused: a month before the billing start (409 before_billing_start), in the
    finalized past (409 cycle_finalized), or not begun yet (400).
    """
    label, period = _month(month)
    with transaction.atomic():
        existing = BillingCycle.objects.filter(label=label).first()
        if existing is not None:
            return existing, False
        if period.start > now:
            raise ValidationError({"month": [MONTH_NOT_BEGUN.format(label=label)]})
        start = billing_start_at()
        if period.start < start:
            raise BeforeBillingStart(field="month", when=period.start, start=start,
                                     label=month_label(start))
        until = finalized_until()
        if until is not None and period.start < until:
            raise CycleFinalized(field="month", when=period.start, label=label)
        cycles_ensure_for(instants=[period.start], now=now)
        return BillingCycle.objects.get(label=label), True


def billing_start_set(*, month: str) -> datetime:
    """Move the provider's billing start to the first instant of `month` (YYYY-MM, in
    its billing zone): back, to import older history, or later, while no cycle would
    be left before it. Returns the new billing start.

    Refused (409): a start before the end of the last finalized cycle (invoices are
    numbered in cycle order), or after the start of an existing cycle.
    """
    label, period = _month(month)
    provider = provider_current()
    with transaction.atomic():
        until = finalized_until()
        if until is not None and period.start < until:
            last = month_label(until - timedelta(microseconds=1))
            raise Conflict({"month": [START_IN_FINALIZED.format(label=label, until=last)]})
        first = BillingCycle.objects.order_by("start").first()
        if first is not None and first.start < period.start:
            raise Conflict({"month": [START_AFTER_CYCLES.format(label=label,
                                                                first=first.label)]})
        # The connection's provider object is the one every selector reads in this
        # process; saving it also tells the host -> provider caches (tenancy.middleware).
        provider.billing_start = period.start
        provider.save(update_fields=["billing_start"])
    logger.info("billing start of %s moved to %s", provider.slug, label)
    return period.start
