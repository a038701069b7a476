"""Billing cycles: calendar months in the provider's billing time zone, stored in UTC, for
any month from the billing start on, made when something dated in them arrives."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from core.errors import Conflict
from cycles.guard import (
    BEFORE_BILLING_START,
    CYCLE_FINALIZED,
    BeforeBillingStart,
    CycleFinalized,
    duration_text,
)
from cycles.models import BillingCycle, CycleStatus
from cycles.selectors import billing_start_at
from cycles.services import (
    MONTH_NOT_BEGUN,
    START_AFTER_CYCLES,
    START_IN_FINALIZED,
    billing_start_set,
    cycle_open,
    cycles_ensure,
    cycles_ensure_for,
)
from tests.conftest import inside

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _labels() -> list[str]:
    return list(BillingCycle.objects.order_by("start").values_list("label", flat=True))


def test_cycles_follow_the_providers_zone_and_are_half_open(alpha):
    with inside(alpha):  # Pacific/Auckland: NZDT, UTC+13, in November and December
        BillingCycle.objects.all().delete()
        current = cycles_ensure(now=NOW)
        assert current.label == "2026-11"
        assert current.start == datetime(2026, 10, 31, 11, 0, tzinfo=UTC)
        assert current.end == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
        # The month that holds now, and nothing ahead of it: no one bills it yet.
        assert _labels() == ["2026-11"]


def test_an_instant_just_after_midnight_local_belongs_to_the_new_month(alpha):
    with inside(alpha):
        BillingCycle.objects.all().delete()
        # 2026-11-30 11:00 UTC is 2026-12-01 00:00 in Auckland.
        assert cycles_ensure(now=datetime(2026, 11, 30, 11, 0, tzinfo=UTC)).label == "2026-12"


def test_ensuring_twice_creates_nothing_new(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
        first = cycles_ensure(now=NOW)
        second = cycles_ensure(now=NOW)
        assert first.pk == second.pk
        assert BillingCycle.objects.count() == 1


def test_dated_instants_make_exactly_their_months_and_nothing_between(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
        made = cycles_ensure_for(instants=[
            datetime(2020, 10, 1, tzinfo=UTC), datetime(2020, 10, 31, 23, 59, tzinfo=UTC),
            datetime(2021, 3, 15, tzinfo=UTC), datetime(2020, 10, 15, tzinfo=UTC),
        ], now=NOW)
        assert sorted(c.label for c in made) == ["2020-10", "2021-03"]
        assert _labels() == ["2020-10", "2021-03"]
        october = BillingCycle.objects.get(label="2020-10")
        assert (october.start, october.end) == (datetime(2020, 10, 1, tzinfo=UTC),
                                                datetime(2020, 11, 1, tzinfo=UTC))
        assert october.status == CycleStatus.OPEN
        # Again: nothing new, one query whatever the number of instants.
        assert cycles_ensure_for(instants=[datetime(2020, 10, 2, tzinfo=UTC)], now=NOW) == []


def test_instants_the_calendar_does_not_take_make_no_cycle(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
        horizon = beta.future_horizon
        made = cycles_ensure_for(instants=[
            datetime(1999, 12, 31, tzinfo=UTC),  # before the billing start (2000-01)
            NOW + horizon + timedelta(seconds=1),  # beyond the future horizon
            datetime(2027, 6, 1, tzinfo=UTC),  # a price scheduled far ahead
        ], now=NOW)
        assert made == [] and _labels() == []


def test_an_operator_opens_a_past_month_explicitly(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
        cycle, made = cycle_open(month="2020-10", now=NOW)
        assert made and cycle.label == "2020-10"
        again, made = cycle_open(month="2020-10", now=NOW)
        assert not made and again.pk == cycle.pk


def test_opening_refuses_months_before_the_start_not_begun_or_finalized(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
        with pytest.raises(BeforeBillingStart) as refused:
            cycle_open(month="1999-12", now=NOW)
        assert refused.value.message_dict == {"month": [BEFORE_BILLING_START.format(
            when="1999-12-01T00:00:00+00:00", label="2000-01",
            start="2000-01-01T00:00:00+00:00", slug="beta")]}
        with pytest.raises(ValidationError) as refused:
            cycle_open(month="2026-12", now=NOW)
        assert refused.value.message_dict == {"month": [MONTH_NOT_BEGUN.format(label="2026-12")]}
        with pytest.raises(ValidationError) as refused:
            cycle_open(month="2026-13", now=NOW)
        assert "month" in refused.value.message_dict
        BillingCycle.objects.create(start=datetime(2021, 1, 1, tzinfo=UTC),
                                    end=datetime(2021, 2, 1, tzinfo=UTC), label="2021-01",
                                    status=CycleStatus.CLOSED)
        with pytest.raises(CycleFinalized) as refused:
            cycle_open(month="2020-10", now=NOW)
        assert refused.value.message_dict == {"month": [CYCLE_FINALIZED.format(
            when="2020-10-01T00:00:00+00:00", label="2020-10")]}
        assert _labels() == ["2021-01"]


def test_the_billing_start_is_the_creation_month_until_an_operator_moves_it(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
        beta.billing_start = None
        created = beta.created_at
        assert billing_start_at() == datetime(created.year, created.month, 1, tzinfo=UTC)
        assert billing_start_set(month="2020-10") == datetime(2020, 10, 1, tzinfo=UTC)
        assert billing_start_at() == datetime(2020, 10, 1, tzinfo=UTC)
        beta.refresh_from_db()
        assert beta.billing_start == datetime(2020, 10, 1, tzinfo=UTC)


def test_the_billing_start_never_strands_a_cycle_nor_enters_the_finalized_past(alpha):
    with inside(alpha):  # Pacific/Auckland
        BillingCycle.objects.all().delete()
        cycle_open(month="2020-10", now=NOW)
        # Local midnight in Auckland (NZDT, UTC+13), stored in UTC.
        assert billing_start_set(month="2020-10") == datetime(2020, 9, 30, 11, tzinfo=UTC)
        with pytest.raises(Conflict) as refused:
            billing_start_set(month="2020-11")
        assert refused.value.message_dict == {"month": [START_AFTER_CYCLES.format(
            label="2020-11", first="2020-10")]}
        BillingCycle.objects.filter(label="2020-10").update(status=CycleStatus.CLOSED)
        with pytest.raises(Conflict) as refused:
            billing_start_set(month="2019-01")
        assert refused.value.message_dict == {"month": [START_IN_FINALIZED.format(
            label="2019-01", until="2020-10")]}


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(days=1), "1 day"), (timedelta(days=2), "2 days"),
    (timedelta(hours=36), "36 hours"), (timedelta(minutes=90), "90 minutes"),
    (timedelta(seconds=1), "1 second"), (timedelta(0), "0 seconds"),
])
def test_a_horizon_reads_as_people_say_it(delta, text):
    assert duration_text(delta) == text
