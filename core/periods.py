"""Half-open periods of time and billing months.

A `Period` is `[start, end)`: it contains `start` and not `end`, so a month
ends where the next begins and no instant belongs to two of them (no
`23:59:59` fudges). Instants are timezone-aware and normalized to UTC. A
billing month is a calendar month in the tenant's billing time zone, computed
with `zoneinfo` and then expressed in UTC, so a month that crosses a daylight
saving change is an hour shorter or longer than its days suggest.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ERR_NOT_DATETIME = "period bounds must be datetimes"
ERR_NAIVE = "datetimes must be timezone-aware"
ERR_EMPTY = "a period must start before it ends"
ERR_MONTH_FORMAT = "month must be written YYYY-MM, e.g. 2026-03"
ERR_MONTH_RANGE = "month must be between 1 and 12"
ERR_YEAR_RANGE = "year must be between 1 and 9998"
ERR_TIME_ZONE = "unknown time zone"
ERR_NOT_A_MONTH = "period is not a calendar month in the given time zone"
ERR_INSTANT_RANGE = (
    "is outside the instants Tally can store: from 0001-01-01T00:00:00Z to "
    "9999-12-31T23:59:59Z in UTC"
)

# [0-9], not \d: \d also matches non-ASCII digits such as full-width ones.
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_SECONDS_PER_DAY = 86400


def require_aware(t: datetime) -> None:
    """Refuse anything but a timezone-aware datetime (ValueError)."""
    if not isinstance(t, datetime):
        raise ValueError(f"{ERR_NOT_DATETIME}, got {type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{ERR_NAIVE}: {t.isoformat()}")


def instant_utc(t: datetime) -> datetime:
    """An aware instant in UTC; ValueError(ERR_INSTANT_RANGE) when UTC cannot hold it.

    Python's datetime runs from year 1 to 9999 in each zone, so an instant written
    with an offset can lie outside that range in UTC (0001-01-01T00:00+01:00 is in
    year 0, 9999-12-31T23:00-05:00 in year 10000): converting it raises OverflowError,
    which every parser of user input must turn into a refusal, never a 500.
    """
    require_aware(t)
    try:
        return t.astimezone(UTC)
    except OverflowError:
        raise ValueError(ERR_INSTANT_RANGE) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """The half-open interval `[start, end)`, bounds in UTC.

    Bounds given in another zone are converted to UTC on construction; this
    also makes `end - start` an elapsed time (Python subtracts wall clocks when
    both operands share one tzinfo, which would hide a DST hour).
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware(self.start)
        require_aware(self.end)
        # Frozen: normalizing must bypass the generated __setattr__.
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        if not self.start < self.end:
            raise ValueError(f"{ERR_EMPTY}: [{self.start.isoformat()}, {self.end.isoformat()})")

    def contains(self, t: datetime) -> bool:
        """True when `start <= t < end`."""
        require_aware(t)
        return self.start <= t < self.end

    def overlap(self, other: "Period") -> "Period | None":
        """The common part of both periods, or None; periods that only touch share nothing."""
        start = max(self.start, other.start)
        end = min(self.end, other.end)
        return Period(start=start, end=end) if start < end else None

    @property
    def duration(self) -> timedelta:
        """Elapsed time from start to end."""
        return self.end - self.start

    @property
    def seconds(self) -> Decimal:
        """Elapsed seconds, exact to the microsecond."""
        return timedelta_seconds(self.duration)


def timedelta_seconds(delta: timedelta) -> Decimal:
    """A timedelta as an exact Decimal number of seconds (microseconds kept)."""
    whole = delta.days * _SECONDS_PER_DAY + delta.seconds
    return Decimal(whole) + Decimal(delta.microseconds).scaleb(-6)


class YearMonth(NamedTuple):
    year: int
    month: int


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{ERR_TIME_ZONE}: {tz!r}") from None


def _check_year_month(year: int, month: int) -> None:
    if not 1 <= month <= 12:
        raise ValueError(f"{ERR_MONTH_RANGE}: {month}")
    # 9998 and not 9999: the month's end is the first instant of the next month.
    if not 1 <= year <= 9998:
        raise ValueError(f"{ERR_YEAR_RANGE}: {year}")


def _following(year: int, month: int) -> YearMonth:
    return YearMonth(year + 1, 1) if month == 12 else YearMonth(year, month + 1)


def month_period(year: int, month: int, tz: str) -> Period:
    """The calendar month `year-month` in zone `tz`, as a UTC `Period`.

    The month runs from local midnight on its first day to local midnight on
    the first day of the next month. If local midnight is skipped by a DST
    change, zoneinfo's fold=0 reading maps it to the instant of the change,
    which is where the day begins.
    """
    _check_year_month(year, month)
    zone = _zone(tz)
    following = _following(year, month)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(following.year, following.month, 1, tzinfo=zone)
    return Period(start=start, end=end)


def month_containing(t: datetime, tz: str) -> Period:
    """The billing month (calendar month in `tz`) that contains instant `t`."""
    require_aware(t)
    local = t.astimezone(_zone(tz))
    return month_period(local.year, local.month, tz)


def next_month(period: Period, tz: str) -> Period:
    """The billing month that follows `period`, which must itself be a month in `tz`."""
    if month_containing(period.start, tz) != period:
        raise ValueError(f"{ERR_NOT_A_MONTH} {tz!r}")
    return month_containing(period.end, tz)


def parse_month(text: str) -> YearMonth:
    """Parse "YYYY-MM" (as in `?month=2026-03`) into `YearMonth(2026, 3)`."""
    match = _MONTH.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{ERR_MONTH_FORMAT}: {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    _check_year_month(year, month)
    return YearMonth(year, month)


def merge_periods(periods: Iterable[Period]) -> list[Period]:
    """Sorted, non-overlapping periods covering exactly the union of `periods`.

    Periods that overlap or touch (`a.end == b.start`) become one period, since
    `[a, b)` and `[b, c)` together are exactly `[a, c)`.
    """
    merged: list[Period] = []
    for period in sorted(periods, key=lambda p: (p.start, p.end)):
        if merged and period.start <= merged[-1].end:
            last = merged[-1]
            if period.end > last.end:
                merged[-1] = Period(start=last.start, end=period.end)
        else:
            merged.append(period)
    return merged


def union_length(periods: Iterable[Period]) -> timedelta:
    """Total time covered by `periods`, counting overlapping time once."""
    return sum((p.duration for p in merge_periods(periods)), timedelta(0))


def subtract_periods(base: Period, removed: Iterable[Period]) -> list[Period]:
    """The parts of `base` not covered by any of `removed`, sorted."""
    remaining: list[Period] = []
    cursor = base.start
    for cut in merge_periods(removed):
        if cut.end <= cursor:
            continue
        if cut.start >= base.end:
            break
        if cut.start > cursor:
            remaining.append(Period(start=cursor, end=cut.start))
        cursor = max(cursor, cut.end)
    if cursor < base.end:
        remaining.append(Period(start=cursor, end=base.end))
    return remaining
