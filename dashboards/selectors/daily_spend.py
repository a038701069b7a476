"""Spend per day of a cycle, for the daily chart: the lines' amounts spread over the
days of the provider's billing time zone, with the daily rate projected on days to come."""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from core.money import round_money
from cycles.models import BillingCycle, CycleStatus
from tenancy.selectors import provider_current


@dataclass(frozen=True)
class DaySpend:
    day: date
    amount: Decimal | None  # None: not rated yet (after `rated_until`)
    projected: Decimal | None  # the daily rate, on days still to come


def daily_spend(*, cycle: BillingCycle, lines: QuerySet, daily_rate: Decimal,
                until: datetime | None) -> list[DaySpend]:
    """Spend per day of the cycle, days in the provider's billing time zone. One query.

    Method: each line's (already rounded) amount is spread over its period
    `[period_start, period_end)` in proportion to time. A line groups resources of one
    price, so this is exact for resources that ran the whole period and an even
    approximation otherwise; credits fall on the days of their window. The days are
    rounded cumulatively (each day is the rounded running total minus the previous
    one), so they add up to the cycle's total to the cent. Days after the last rating
    carry the current daily rate as a projection instead.
    """
    provider = provider_current()
    currency = provider.currency
    zone = ZoneInfo(provider.billing_timezone)
    bounds = _day_starts(cycle, zone)
    values = _rounded_cumulatively(_spread_over_days(lines, cycle=cycle, bounds=bounds),
                                   currency=currency)
    open_cycle = cycle.status == CycleStatus.OPEN
    days: list[DaySpend] = []
    for index, value in enumerate(values):
        day_start, day_end = bounds[index], bounds[index + 1]
        day = day_start.astimezone(zone).date()
        future = open_cycle and (until is None or day_start >= until)
        if future and value == 0:
            days.append(DaySpend(day=day, amount=None, projected=daily_rate))
            continue
        projected = None
        if open_cycle and until is not None and day_start < until < day_end:
            # The day of the last rating: the rest of it at the current daily rate.
            rest = Decimal(int((day_end - until).total_seconds()))
            length = Decimal(int((day_end - day_start).total_seconds()))
            projected = round_money(daily_rate * rest / length, currency)
        days.append(DaySpend(day=day, amount=value, projected=projected))
    return days


def _day_starts(cycle: BillingCycle, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants where the cycle's days (in the billing zone) begin, plus its end."""
    first = cycle.start.astimezone(zone).date()
    last = (cycle.end - timedelta(microseconds=1)).astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    starts = [datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC) for d in days]
    starts[0] = max(starts[0], cycle.start)
    return [*starts, cycle.end]


def _spread_over_days(lines: QuerySet, *, cycle: BillingCycle, bounds: list[datetime]
                      ) -> list[Decimal]:
    """Each day's unrounded share of the lines' amounts, in proportion to time."""
    raw = [Decimal(0)] * (len(bounds) - 1)
    for start, end, amount in lines.values_list("period_start", "period_end", "amount"):
        start, end = max(start, cycle.start), min(end, cycle.end)
        length = Decimal(int((end - start).total_seconds()))
        if length <= 0:  # a line outside the cycle (never written by the rating run)
            continue
        index = max(0, bisect_right(bounds, start) - 1)
        while index < len(raw) and bounds[index] < end:
            overlap = min(end, bounds[index + 1]) - max(start, bounds[index])
            part = Decimal(int(overlap.total_seconds()))
            if part > 0:
                raw[index] += amount * part / length
            index += 1
    return raw


def _rounded_cumulatively(amounts: list[Decimal], *, currency: str) -> list[Decimal]:
    """The rounded running total minus the previous one, day by day: the days add up
    to the rounded total, to the cent."""
    values = []
    running = Decimal(0)
    shown = Decimal(0)
    for amount in amounts:
        running += amount
        rounded = round_money(running, currency)
        values.append(rounded - shown)
        shown = rounded
    return values
