import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.periods import (
    ERR_EMPTY,
    ERR_MONTH_FORMAT,
    ERR_MONTH_RANGE,
    ERR_NAIVE,
    ERR_NOT_A_MONTH,
    ERR_NOT_DATETIME,
    ERR_TIME_ZONE,
    ERR_YEAR_RANGE,
    Period,
    YearMonth,
    merge_periods,
    month_containing,
    month_period,
    next_month,
    parse_month,
    subtract_periods,
    timedelta_seconds,
    union_length,
)

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def span(start: tuple, end: tuple) -> Period:
    return Period(start=utc(*start), end=utc(*end))


# Construction


def test_period_keeps_utc_bounds():
    period = span((2020, 10, 1), (2020, 11, 1))
    assert period.start == utc(2020, 10, 1)
    assert period.end == utc(2020, 11, 1)


def test_period_normalizes_other_zones_to_utc():
    period = Period(
        start=datetime(2026, 3, 1, tzinfo=BERLIN), end=datetime(2026, 4, 1, tzinfo=BERLIN)
    )
    assert period.start.tzinfo is UTC
    assert period.start.isoformat() == "2026-02-28T23:00:00+00:00"
    assert period.end.isoformat() == "2026-03-31T22:00:00+00:00"
    # Same tzinfo on both ends would make Python subtract wall clocks (744 h).
    assert period.duration == timedelta(hours=743)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2020, 10, 1), utc(2020, 11, 1), ERR_NAIVE),
        (utc(2020, 10, 1), datetime(2020, 11, 1), ERR_NAIVE),
        (utc(2020, 10, 1), utc(2020, 10, 1), ERR_EMPTY),
        (utc(2020, 11, 1), utc(2020, 10, 1), ERR_EMPTY),
        (date(2020, 10, 1), utc(2020, 11, 1), ERR_NOT_DATETIME),
        ("2020-10-01T00:00:00Z", utc(2020, 11, 1), ERR_NOT_DATETIME),
    ],
)
def test_period_refuses_bad_bounds(start, end, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Period(start=start, end=end)


def test_period_is_frozen():
    period = span((2020, 10, 1), (2020, 11, 1))
    with pytest.raises(AttributeError):
        period.start = utc(2020, 9, 1)


# contains: half-open


@pytest.mark.parametrize(
    ("instant", "inside"),
    [
        (utc(2020, 9, 30, 23, 59, 59, 999999), False),
        (utc(2020, 10, 1), True),
        (utc(2020, 10, 15, 12), True),
        (utc(2020, 10, 31, 23, 59, 59, 999999), True),
        (utc(2020, 11, 1), False),
        (datetime(2020, 10, 1, 2, tzinfo=BERLIN), True),  # 00:00 UTC
        (datetime(2020, 10, 1, 1, 59, tzinfo=BERLIN), False),
    ],
)
def test_contains(instant, inside):
    assert span((2020, 10, 1), (2020, 11, 1)).contains(instant) is inside


def test_contains_refuses_naive():
    with pytest.raises(ValueError, match=ERR_NAIVE):
        span((2020, 10, 1), (2020, 11, 1)).contains(datetime(2020, 10, 5))


# overlap


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (span((2020, 9, 20), (2020, 10, 5)), span((2020, 10, 1), (2020, 10, 5))),
        (span((2020, 10, 25), (2020, 11, 5)), span((2020, 10, 25), (2020, 11, 1))),
        (span((2020, 10, 5), (2020, 10, 6)), span((2020, 10, 5), (2020, 10, 6))),
        (span((2020, 9, 1), (2020, 12, 1)), span((2020, 10, 1), (2020, 11, 1))),
        (span((2020, 10, 1), (2020, 11, 1)), span((2020, 10, 1), (2020, 11, 1))),
        (span((2020, 9, 1), (2020, 10, 1)), None),  # touches the start
        (span((2020, 11, 1), (2020, 11, 2)), None),  # touches the end
        (span((2020, 12, 1), (2020, 12, 2)), None),
    ],
)
def test_overlap(other, expected):
    october = span((2020, 10, 1), (2020, 11, 1))
    assert october.overlap(other) == expected
    assert other.overlap(october) == expected


# duration and seconds


@pytest.mark.parametrize(
    ("period", "duration", "seconds"),
    [
        (span((2020, 10, 1), (2020, 11, 1)), timedelta(days=31), Decimal("2678400")),
        (span((2020, 2, 1), (2020, 3, 1)), timedelta(days=29), Decimal("2505600")),
        (span((2020, 10, 1), (2020, 10, 1, 0, 0, 1)), timedelta(seconds=1), Decimal("1")),
        (
            span((2020, 10, 1), (2020, 10, 1, 0, 0, 1, 500001)),
            timedelta(seconds=1, microseconds=500001),
            Decimal("1.500001"),
        ),
        (
            span((2020, 10, 15, 23), (2020, 10, 16, 4, 30)),
            timedelta(hours=5, minutes=30),
            Decimal("19800"),
        ),
    ],
)
def test_duration_and_seconds(period, duration, seconds):
    assert period.duration == duration
    assert period.seconds == seconds


def test_timedelta_seconds_is_exact():
    assert str(timedelta_seconds(timedelta(days=1, microseconds=1))) == "86400.000001"


# Billing months


@pytest.mark.parametrize(
    ("year", "month", "tz", "start", "end", "hours"),
    [
        (2020, 10, "UTC", "2020-10-01T00:00Z", "2020-11-01T00:00Z", 744),
        (2024, 2, "UTC", "2024-02-01T00:00Z", "2024-03-01T00:00Z", 696),
        (2026, 12, "UTC", "2026-12-01T00:00Z", "2027-01-01T00:00Z", 744),
        # Clocks go forward on 2026-03-29 in Berlin: 31 days minus 1 hour.
        (2026, 3, "Europe/Berlin", "2026-02-28T23:00Z", "2026-03-31T22:00Z", 743),
        # ... and on 2026-03-08 in New York.
        (2026, 3, "America/New_York", "2026-03-01T05:00Z", "2026-04-01T04:00Z", 743),
        # Clocks go back on 2026-10-25 in Berlin and 2026-11-01 in New York: 1 hour longer.
        (2026, 10, "Europe/Berlin", "2026-09-30T22:00Z", "2026-10-31T23:00Z", 745),
        (2026, 11, "America/New_York", "2026-11-01T04:00Z", "2026-12-01T05:00Z", 721),
        (2026, 1, "Asia/Tokyo", "2025-12-31T15:00Z", "2026-01-31T15:00Z", 744),
    ],
)
def test_month_period(year, month, tz, start, end, hours):
    period = month_period(year, month, tz)
    assert period.start == datetime.fromisoformat(start)
    assert period.end == datetime.fromisoformat(end)
    assert period.start.tzinfo is UTC
    assert period.duration == timedelta(hours=hours)
    assert period.seconds == Decimal(hours * 3600)


@pytest.mark.parametrize(
    ("year", "month", "tz", "message"),
    [
        (2026, 13, "UTC", ERR_MONTH_RANGE),
        (2026, 0, "UTC", ERR_MONTH_RANGE),
        (0, 1, "UTC", ERR_YEAR_RANGE),
        (9999, 12, "UTC", ERR_YEAR_RANGE),
        (2026, 3, "Mars/Olympus_Mons", ERR_TIME_ZONE),
        (2026, 3, "", ERR_TIME_ZONE),
        (2026, 3, "../etc/passwd", ERR_TIME_ZONE),
    ],
)
def test_month_period_refuses(year, month, tz, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        month_period(year, month, tz)


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        (utc(2020, 10, 15, 12), "UTC", (2020, 10, "UTC")),
        (utc(2020, 10, 1), "UTC", (2020, 10, "UTC")),
        (utc(2020, 9, 30, 23, 59, 59, 999999), "UTC", (2020, 9, "UTC")),
        # 23:30 UTC on Feb 28 is already March 1st in Berlin.
        (utc(2026, 2, 28, 23, 30), "Europe/Berlin", (2026, 3, "Europe/Berlin")),
        (utc(2026, 2, 28, 23, 30), "UTC", (2026, 2, "UTC")),
        (utc(2026, 3, 31, 21, 59, 59, 999999), "Europe/Berlin", (2026, 3, "Europe/Berlin")),
        (utc(2026, 3, 31, 22), "Europe/Berlin", (2026, 4, "Europe/Berlin")),
        (utc(2026, 3, 1, 4, 59), "America/New_York", (2026, 2, "America/New_York")),
        (utc(2026, 3, 1, 5), "America/New_York", (2026, 3, "America/New_York")),
    ],
)
def test_month_containing(instant, tz, expected):
    assert month_containing(instant, tz) == month_period(*expected)


def test_month_containing_refuses_naive():
    with pytest.raises(ValueError, match=ERR_NAIVE):
        month_containing(datetime(2026, 3, 1), "UTC")


@pytest.mark.parametrize(
    ("current", "tz", "following"),
    [
        ((2020, 10), "UTC", (2020, 11)),
        ((2026, 12), "UTC", (2027, 1)),
        ((2026, 3), "Europe/Berlin", (2026, 4)),
        ((2026, 10), "America/New_York", (2026, 11)),
    ],
)
def test_next_month(current, tz, following):
    result = next_month(month_period(*current, tz), tz)
    assert result == month_period(*following, tz)
    assert result.start == month_period(*current, tz).end


@pytest.mark.parametrize(
    ("period", "tz"),
    [
        (span((2020, 10, 1), (2020, 10, 15)), "UTC"),
        (span((2020, 10, 2), (2020, 11, 1)), "UTC"),
        (span((2026, 3, 1), (2026, 4, 1)), "Europe/Berlin"),  # a UTC month, not a Berlin one
    ],
)
def test_next_month_refuses_non_months(period, tz):
    with pytest.raises(ValueError, match=ERR_NOT_A_MONTH):
        next_month(period, tz)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-03", (2026, 3)), ("2020-10", (2020, 10)), ("0001-01", (1, 1)), ("9998-12", (9998, 12))],
)
def test_parse_month(text, expected):
    result = parse_month(text)
    assert result == YearMonth(*expected)
    assert (result.year, result.month) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-3", ERR_MONTH_FORMAT),
        ("26-03", ERR_MONTH_FORMAT),
        (" 2026-03", ERR_MONTH_FORMAT),
        ("2026-03-01", ERR_MONTH_FORMAT),
        ("2026/03", ERR_MONTH_FORMAT),
        ("２０２６-０３", ERR_MONTH_FORMAT),  # full-width digits match \d but are refused
        ("", ERR_MONTH_FORMAT),
        (None, ERR_MONTH_FORMAT),
        ("2026-13", ERR_MONTH_RANGE),
        ("2026-00", ERR_MONTH_RANGE),
        ("0000-01", ERR_YEAR_RANGE),
        ("9999-12", ERR_YEAR_RANGE),
    ],
)
def test_parse_month_refuses(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_month(text)


# merge, union, subtract

A = (2020, 10, 1)
B = (2020, 10, 2)
C = (2020, 10, 3)
D = (2020, 10, 4)
E = (2020, 10, 5)


@pytest.mark.parametrize(
    ("periods", "expected"),
    [
        ([], []),
        ([span(A, B)], [span(A, B)]),
        ([span(C, D), span(A, B)], [span(A, B), span(C, D)]),
        ([span(A, C), span(B, D)], [span(A, D)]),
        ([span(B, D), span(A, C)], [span(A, D)]),
        ([span(A, B), span(B, C)], [span(A, C)]),  # touching half-open periods join
        ([span(A, E), span(B, C)], [span(A, E)]),
        ([span(A, B), span(A, B)], [span(A, B)]),
        ([span(D, E), span(A, B), span(B, C)], [span(A, C), span(D, E)]),
    ],
)
def test_merge_periods(periods, expected):
    assert merge_periods(periods) == expected


@pytest.mark.parametrize(
    ("periods", "days"),
    [
        ([], 0),
        ([span(A, C), span(B, D)], 3),
        ([span(A, B), span(C, D)], 2),
        ([span(A, E), span(B, C), span(C, D)], 4),
    ],
)
def test_union_length(periods, days):
    assert union_length(periods) == timedelta(days=days)


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        ([], [span(A, E)]),
        ([span(B, C)], [span(A, B), span(C, E)]),
        ([span((2020, 9, 1), B)], [span(B, E)]),
        ([span(D, (2020, 12, 1))], [span(A, D)]),
        ([span((2020, 9, 1), (2020, 12, 1))], []),
        ([span(A, E)], []),
        ([span((2020, 9, 1), (2020, 9, 2)), span((2020, 11, 1), (2020, 11, 2))], [span(A, E)]),
        ([span(C, D), span(B, C)], [span(A, B), span(D, E)]),
        ([span(B, C), span(D, E)], [span(A, B), span(C, D)]),
    ],
)
def test_subtract_periods(removed, expected):
    assert subtract_periods(span(A, E), removed) == expected
