"""The advance's run through a real worker on real Redis: the API queues it, a worker walks
the clock and runs the provider's periodic work on the way, the status turns ready."""

import time

import pytest
from django.db import connection

from accounts.models import ApiKey
from cycles.models import BillingCycle, ClockAdvance, ClockStatus, CycleStatus, SandboxClock
from tenancy.middleware import provider_cache_clear
from tenancy.models import Provider
from tests.accounts.support import Api
from tests.conftest import inside
from tests.cycles.sandbox import berlin, iso, make_sandbox

pytestmark = pytest.mark.worker

SETTINGS = ("sandbox", "billing_timezone", "grace_period", "billing_mode")


@pytest.fixture
def committed_sandbox(django_db_blocker, beta_committed):
    """beta as a sandbox, committed (the worker must see it), restored afterwards."""
    with django_db_blocker.unblock():
        original = {name: getattr(beta_committed, name) for name in SETTINGS}
        yield make_sandbox(beta_committed, frozen_at=berlin(2026, 3, 30, 9))
        with inside(beta_committed):
            for model in (ClockAdvance, SandboxClock, BillingCycle, ApiKey):
                model.objects.all().delete()
        Provider.objects.filter(pk=beta_committed.pk).update(**original)
        provider_cache_clear()
        connection.set_schema_to_public()


def _wait_until_not_advancing(api, deadline_seconds: float = 90) -> dict:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        clock = api.get("/api/v1/test-clock").json()
        if clock["status"] != "advancing":
            return clock
        time.sleep(0.2)
    return clock


def test_a_worker_walks_the_clock_and_closes_the_month_on_the_way(
        celery_worker_process, committed_sandbox):
    api = Api(committed_sandbox, "bob")
    target = berlin(2026, 4, 3, 12)  # past March's end plus two days of grace
    response = api.post("/api/v1/test-clock/advance", {"to": iso(target)})
    assert response.status_code == 202 and response.json()["status"] == "advancing"

    clock = _wait_until_not_advancing(api)

    assert clock["status"] == "ready", (clock, celery_worker_process.output()[-3000:])
    assert clock["frozen_time"] == iso(target)
    with inside(committed_sandbox):
        march = BillingCycle.objects.get(label="2026-03")
        assert march.status == CycleStatus.CLOSED
        assert march.closed_at == berlin(2026, 4, 3)  # at its end plus grace, on the way
        assert BillingCycle.objects.filter(label="2026-04").exists()
        advance = ClockAdvance.objects.get()
        # Midnights of the 31st, 1st, 2nd and 3rd, then the target.
        assert advance.status == ClockStatus.READY and advance.steps == 5
