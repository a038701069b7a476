"""Billing cycles: calendar months in the provider's billing time zone, stored in UTC."""

from datetime import UTC, datetime

from cycles.models import BillingCycle
from cycles.services import cycles_ensure
from tests.conftest import inside


def test_cycles_follow_the_providers_zone_and_are_half_open(alpha):
    with inside(alpha):  # Pacific/Auckland: NZDT, UTC+13, in November and December
        BillingCycle.objects.all().delete()
        current, following = cycles_ensure(now=datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
        assert current.label == "2026-11"
        assert current.start == datetime(2026, 10, 31, 11, 0, tzinfo=UTC)
        assert current.end == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
        assert following.label == "2026-12"
        assert following.start == current.end


def test_an_instant_just_after_midnight_local_belongs_to_the_new_month(alpha):
    with inside(alpha):
        BillingCycle.objects.all().delete()
        # 2026-11-30 11:00 UTC is 2026-12-01 00:00 in Auckland.
        current, _ = cycles_ensure(now=datetime(2026, 11, 30, 11, 0, tzinfo=UTC))
        assert current.label == "2026-12"


def test_ensuring_twice_creates_nothing_new(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
        now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        first = cycles_ensure(now=now)
        second = cycles_ensure(now=now)
        assert [c.pk for c in first] == [c.pk for c in second]
        assert BillingCycle.objects.count() == 2
