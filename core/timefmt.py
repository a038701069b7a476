"""Dates as people read them, and instants as machines read them: one module for both.

People see the provider's billing zone, named: "6 Dec 2026 (Europe/Berlin)". A half-open
period `[start, end)` whose bounds are local midnights is shown by its first and its
*inclusive* last day, so November reads "1–30 Nov 2026 (Europe/Berlin)", never "1 Nov –
1 Dec" (an off-by-one) or "30 Nov 23:59:59" (a fudge). A period with a bound inside a day
shows times, with its exclusive end: "10 Mar 2026, 14:00–18:30". Machines read ISO 8601
instants with their offset: "2026-11-01T00:00:00+01:00", or "...Z" in UTC.

Pure: no settings, no clock, no locale (month names are written out here, so the text
does not depend on the process's LC_TIME).
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.periods import require_aware

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DASH = "\u2013"  # en dash, as in "1–30 Nov 2026"


def zone_of(zone: str | ZoneInfo) -> ZoneInfo:
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


def _named(text: str, zone: ZoneInfo, named: bool) -> str:
    return f"{text} ({zone.key})" if named else text


def _day(d: date) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _clock(t: datetime) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def day_start(t: datetime, zone: ZoneInfo) -> bool:
    """True when instant `t` is where its local day begins in `zone` (local midnight, or
    the instant of a DST change that skips midnight)."""
    local = t.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return midnight.astimezone(UTC) == t.astimezone(UTC)


def date_text(t: datetime, zone: str | ZoneInfo, *, named: bool = True) -> str:
    """The local day of instant `t`: "6 Dec 2026 (Europe/Berlin)"."""
    require_aware(t)
    zone = zone_of(zone)
    return _named(_day(t.astimezone(zone).date()), zone, named)


def datetime_text(t: datetime, zone: str | ZoneInfo, *, named: bool = True) -> str:
    """The local day and time of instant `t`: "6 Dec 2026, 14:05 (Europe/Berlin)"."""
    require_aware(t)
    zone = zone_of(zone)
    local = t.astimezone(zone)
    return _named(f"{_day(local.date())}, {_clock(local)}", zone, named)


def last_day_text(end: datetime, zone: str | ZoneInfo, *, named: bool = True) -> str:
    """The last day a half-open period ending at `end` covers: the day before when `end`
    is a day start ("30 Nov 2026" for a November that ends at 1 Dec 00:00)."""
    require_aware(end)
    zone = zone_of(zone)
    last = end.astimezone(zone).date()
    if day_start(end, zone):
        last -= timedelta(days=1)
    return _named(_day(last), zone, named)


def days_text(first: date, last: date) -> str:
    """Inclusive days `first`..`last`: "1–30 Nov 2026", "10 Nov – 9 Dec 2026",
    "20 Dec 2026 – 9 Jan 2027", or one day "1 Nov 2026"."""
    if first == last:
        return _day(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}{DASH}{last.day} {MONTHS[last.month - 1]} {last.year}"
    if first.year == last.year:
        return f"{first.day} {MONTHS[first.month - 1]} {DASH} {_day(last)}"
    return f"{_day(first)} {DASH} {_day(last)}"


def period_text(start: datetime, end: datetime, zone: str | ZoneInfo, *,
                named: bool = True) -> str:
    """The half-open period `[start, end)` in `zone`.

    Whole local days are shown by their inclusive last day ("1–31 Mar 2026
    (America/New_York)", whatever the DST change inside does to its length); a period
    that starts or ends inside a day shows its times, the end exclusive as written
    ("10 Mar 2026, 14:00–18:30", "10 Mar 2026, 14:00 – 20 Mar 2026, 09:30").
    """
    require_aware(start)
    require_aware(end)
    if not start < end:
        raise ValueError(f"a period must start before it ends: [{start}, {end})")
    zone = zone_of(zone)
    first, stop = start.astimezone(zone), end.astimezone(zone)
    if day_start(start, zone) and day_start(end, zone):
        last = stop.date() - timedelta(days=1)
        return _named(days_text(first.date(), last), zone, named)
    if first.date() == stop.date():
        text = f"{_day(first.date())}, {_clock(first)}{DASH}{_clock(stop)}"
    else:
        text = (f"{_day(first.date())}, {_clock(first)} {DASH} "
                f"{_day(stop.date())}, {_clock(stop)}")
    return _named(text, zone, named)


def iso_instant(t: datetime | None, zone: str | ZoneInfo | None = None) -> str | None:
    """ISO 8601 with its offset: in `zone` ("2026-11-01T00:00:00+01:00"), or in UTC with
    "Z" when no zone is given. None stays None (an open end)."""
    if t is None:
        return None
    require_aware(t)
    if zone is None:
        return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return t.astimezone(zone_of(zone)).isoformat()


INSTANT_NEEDS_OFFSET = "give an ISO 8601 instant with its UTC offset, e.g. 2026-03-01T00:00:00Z"


def instant_from_iso(text: str) -> datetime:
    """Read an ISO 8601 instant that carries its offset, as UTC (ValueError otherwise: a
    naive time is refused, never guessed)."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise ValueError(INSTANT_NEEDS_OFFSET) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(INSTANT_NEEDS_OFFSET)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(INSTANT_NEEDS_OFFSET) from None
