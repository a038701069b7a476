"""Dates as people read them (named zone, inclusive last day) and instants as machines do."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.periods import month_period
from core.timefmt import date_text, datetime_text, day_start, iso_instant, period_text

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


@pytest.mark.parametrize(("year", "month", "zone", "expected"), [
    (2026, 11, BERLIN, "1–30 Nov 2026 (Europe/Berlin)"),
    # 743 hours (DST starts on 8 March), still the 1st to the 31st.
    (2026, 3, NEW_YORK, "1–31 Mar 2026 (America/New_York)"),
    # 745 hours (DST ends on 25 October).
    (2026, 10, BERLIN, "1–31 Oct 2026 (Europe/Berlin)"),
    (2028, 2, "UTC", "1–29 Feb 2028 (UTC)"),
    (2026, 12, "Pacific/Auckland", "1–31 Dec 2026 (Pacific/Auckland)"),
    # Santiago's DST starts at midnight: 6 Sep 2026 begins at 01:00 local.
    (2026, 9, "America/Santiago", "1–30 Sep 2026 (America/Santiago)"),
])
def test_a_billing_month_reads_first_to_inclusive_last_day(year, month, zone, expected):
    period = month_period(year, month, zone)
    assert period_text(period.start, period.end, zone) == expected


def _at(zone, *args):
    return datetime(*args, tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize(("start", "end", "expected"), [
    (_at(BERLIN, 2026, 11, 10), _at(BERLIN, 2026, 12, 10), "10 Nov – 9 Dec 2026"),
    (_at(BERLIN, 2026, 12, 20), _at(BERLIN, 2027, 1, 10), "20 Dec 2026 – 9 Jan 2027"),
    (_at(BERLIN, 2026, 11, 5), _at(BERLIN, 2026, 11, 6), "5 Nov 2026"),
    (_at(BERLIN, 2026, 3, 10, 14), _at(BERLIN, 2026, 3, 10, 18, 30),
     "10 Mar 2026, 14:00–18:30"),
    (_at(BERLIN, 2026, 3, 10, 14), _at(BERLIN, 2026, 3, 20, 9, 30),
     "10 Mar 2026, 14:00 – 20 Mar 2026, 09:30"),
    # A day start to a time inside a day: times on both sides.
    (_at(BERLIN, 2026, 3, 1), _at(BERLIN, 2026, 3, 20, 12),
     "1 Mar 2026, 00:00 – 20 Mar 2026, 12:00"),
])
def test_periods_across_days_months_and_years(start, end, expected):
    assert period_text(start, end, BERLIN, named=False) == expected
    assert period_text(start, end, BERLIN) == f"{expected} (Europe/Berlin)"


def test_the_same_instants_read_in_each_zone():
    # Midnight UTC on 1 November is 01:00 in Berlin: not a Berlin day start.
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    assert period_text(start, end, "UTC") == "1–30 Nov 2026 (UTC)"
    assert period_text(start, end, BERLIN) == (
        "1 Nov 2026, 01:00 – 1 Dec 2026, 01:00 (Europe/Berlin)")


def test_single_instants_name_their_zone():
    t = datetime(2026, 12, 6, 13, 5, 59, tzinfo=UTC)
    assert date_text(t, BERLIN) == "6 Dec 2026 (Europe/Berlin)"
    assert datetime_text(t, BERLIN) == "6 Dec 2026, 14:05 (Europe/Berlin)"
    assert datetime_text(t, "Pacific/Auckland") == "7 Dec 2026, 02:05 (Pacific/Auckland)"
    assert date_text(t, NEW_YORK, named=False) == "6 Dec 2026"


def test_instants_for_machines_carry_their_offset():
    t = datetime(2026, 11, 1, tzinfo=UTC)
    assert iso_instant(t) == "2026-11-01T00:00:00Z"
    assert iso_instant(t, BERLIN) == "2026-11-01T01:00:00+01:00"
    assert iso_instant(datetime(2026, 7, 1, tzinfo=UTC), BERLIN) == "2026-07-01T02:00:00+02:00"
    assert iso_instant(None) is None


def test_day_start_is_local():
    assert day_start(_at(NEW_YORK, 2026, 3, 8), ZoneInfo(NEW_YORK))
    assert not day_start(datetime(2026, 3, 8, tzinfo=UTC),
                         ZoneInfo(NEW_YORK))


@pytest.mark.parametrize("bad", [
    (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    (datetime(2026, 3, 1), datetime(2026, 3, 2, tzinfo=UTC)),
])
def test_empty_reversed_or_naive_periods_are_refused(bad):
    with pytest.raises(ValueError):
        period_text(*bad, "UTC")
