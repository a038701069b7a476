"""A sandbox provider for tests: one of the session's providers turned into a sandbox
(selling offers, in a zone, with a grace period) for one test, its clock frozen where the
test says, and the clock moved the way a client moves it (the API), with the run the
advance queues done here, in the test's transaction."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cycles.clock_advance import sandbox_clock_start
from cycles.clock_run import sandbox_clock_run
from tenancy.middleware import provider_cache_clear
from tenancy.models import BillingMode, Provider
from tests.conftest import inside

BERLIN = "Europe/Berlin"


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(BERLIN)).astimezone(UTC)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def own_media(settings, tmp_path):
    """PDFs rendered on the way land in this test's own directory: a PDF at its path is
    never rendered again, so one left by another test would be read instead."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_sandbox(provider: Provider, *, frozen_at: datetime, zone: str = BERLIN,
                 grace: timedelta = timedelta(days=2), offers: bool = True) -> Provider:
    """`provider` as a sandbox for this test only (the row changes inside the test's
    transaction), its clock frozen at `frozen_at`."""
    fields = {"sandbox": True, "billing_timezone": zone, "grace_period": grace}
    if offers:
        fields["billing_mode"] = BillingMode.OFFERS
    Provider.objects.filter(pk=provider.pk).update(**fields)
    provider_cache_clear()  # .update() sends no signal
    for name, value in fields.items():
        setattr(provider, name, value)
    with inside(provider):
        sandbox_clock_start(frozen_time=frozen_at)
    return provider


def advance(api, provider: Provider, to: datetime) -> dict:
    """POST /test-clock/advance, then what the queued task does on a worker (the worker
    test runs it there), then the clock as GET shows it."""
    response = api.post("/api/v1/test-clock/advance", {"to": iso(to)})
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "advancing"
    with inside(provider):
        sandbox_clock_run()
    clock = api.get("/api/v1/test-clock").json()
    assert clock["status"] == "ready", clock
    assert clock["frozen_time"] == iso(to)
    return clock
