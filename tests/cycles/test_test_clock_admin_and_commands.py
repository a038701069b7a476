"""The test clock where operators reach it: the admin's page and button, the dashboards'
banner and "now", `manage.py test_clock` and `manage.py create_provider --sandbox`."""

import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.onboarding import CLOCK_ONLY_FOR_SANDBOX
from cycles.clock import clock_now
from cycles.clock_advance import ADVANCE_BACKWARDS, NOT_A_SANDBOX
from cycles.clock_run import sandbox_clock_run
from cycles.models import ClockAdvance, ClockStatus, SandboxClock
from tenancy.models import Provider
from tests.accounts.support import Api
from tests.conftest import host_client, inside, sign_in
from tests.cycles.sandbox import advance, berlin, make_sandbox

FROZEN = berlin(2026, 3, 10, 9)


@pytest.fixture
def sandbox(beta, no_cycles, own_media):
    return make_sandbox(beta, frozen_at=FROZEN)


def _admin(provider):
    client = host_client(provider)
    assert sign_in(client, {"alpha": "alice", "beta": "bob"}[provider.slug])
    return client


def test_the_admin_names_its_zone_and_moves_the_clock_with_a_button(sandbox):
    client = _admin(sandbox)
    index = client.get("/admin/").content.decode()
    assert "Times in <strong>Europe/Berlin</strong>" in index
    assert "sandbox clock: <strong>10 Mar 2026, 09:00</strong>" in index
    assert "/admin/cycles/sandboxclock/" in index

    page = client.get("/admin/cycles/sandboxclock/").content.decode()
    assert "10 Mar 2026, 09:00 (Europe/Berlin)" in page and "Advance the clock" in page

    # Typed in the provider's zone, as the page says.
    moved = client.post("/admin/cycles/sandboxclock/", {"to": "2026-03-20T09:00"})
    assert moved.status_code == 302
    with inside(sandbox):
        clock = SandboxClock.objects.get()
        assert clock.status == ClockStatus.ADVANCING
        assert clock.advancing_to == berlin(2026, 3, 20, 9)
        sandbox_clock_run()  # what the queued task does on a worker
    page = client.get("/admin/cycles/sandboxclock/").content.decode()
    assert "20 Mar 2026, 09:00 (Europe/Berlin)" in page
    assert "<td>bob</td><td>Ready</td><td>11</td>" in page  # 10 midnights and the target

    cycles = client.get("/admin/cycles/billingcycle/").content.decode()
    assert "1–31 Mar 2026 (Europe/Berlin)" in cycles


@pytest.mark.parametrize(("typed", "reason"), [
    ("2026-03-01T09:00", ADVANCE_BACKWARDS.format(now="2026-03-10T08:00:00Z")),
    # 02:30 does not exist in Berlin on 29 March (the clocks skip from 02:00 to 03:00).
    ("2026-03-29T02:30", "couldn’t be interpreted in time zone Europe/Berlin"),
])
def test_the_admin_refuses_a_move_with_its_reason(sandbox, typed, reason):
    page = _admin(sandbox).post("/admin/cycles/sandboxclock/", {"to": typed})
    assert page.status_code == 200 and reason in page.content.decode()
    with inside(sandbox):
        assert SandboxClock.objects.get().status == ClockStatus.READY


def test_a_live_providers_admin_has_no_clock_and_shows_its_own_zone(alpha):
    client = _admin(alpha)
    index = client.get("/admin/").content.decode()
    assert "Times in <strong>Pacific/Auckland</strong>" in index
    assert "sandboxclock" not in index and "sandbox clock" not in index
    assert client.get("/admin/cycles/sandboxclock/").status_code == 302


def test_the_dashboards_show_the_sandboxs_clock_and_month(sandbox):
    advance(Api(sandbox, "bob"), sandbox, berlin(2026, 3, 11))
    client = host_client(sandbox)
    assert sign_in(client, "bob")
    page = client.get("/operator/").content.decode()
    assert "its clock reads <strong>11 Mar 2026, 00:00 (Europe/Berlin)</strong>" in page
    assert "Billing cycle 2026-03" in page and "1–31 Mar 2026 (Europe/Berlin)" in page


def test_the_command_moves_the_clock_with_progress_and_refuses_with_reasons(sandbox, alpha):
    out = io.StringIO()
    call_command("test_clock", "--provider", "beta", "--advance-to", "2026-03-12T00:00:00Z",
                 stdout=out)
    text = out.getvalue()
    assert "step 3/3" in text  # two Berlin midnights, then the target
    assert "beta: now is 12 Mar 2026, 01:00 (Europe/Berlin), ready" in text
    with inside(sandbox):
        assert clock_now() == datetime(2026, 3, 12, tzinfo=UTC)
        assert ClockAdvance.objects.get().steps == 3
        assert ClockAdvance.objects.get().requested_by_name == "manage.py test_clock"

    with pytest.raises(CommandError, match="only moves forward"):
        call_command("test_clock", "--provider", "beta", "--advance-to", "2026-03-11T00:00Z")
    with pytest.raises(CommandError, match="UTC offset"):
        call_command("test_clock", "--provider", "beta", "--advance-to", "2026-04-01 00:00")
    with pytest.raises(CommandError, match="runs on real time"):
        call_command("test_clock", "--provider", "alpha")


def test_create_provider_makes_a_sandbox_frozen_at_creation_or_where_asked(db):
    out = io.StringIO()
    call_command("create_provider", "rehearsal", "--name", "Rehearsal", "--admin", "rita",
                 "--admin-password", "x-long-enough-password", "--timezone", "Europe/Berlin",
                 "--sandbox", "--frozen-at", "2026-03-01T00:00:00+01:00", stdout=out)
    assert "test clock frozen at 1 Mar 2026, 00:00 (Europe/Berlin)" in out.getvalue()
    rehearsal = Provider.objects.get(slug="rehearsal")
    assert rehearsal.sandbox
    with inside(rehearsal):
        assert clock_now() == datetime(2026, 2, 28, 23, tzinfo=UTC)
    body = Api(rehearsal, "rita").get("/api/v1/test-clock").json()
    assert body["local_time"] == "2026-03-01T00:00:00+01:00" and body["status"] == "ready"
    connection.set_schema_to_public()  # the request left its provider's schema set

    call_command("create_provider", "now-box", "--name", "Now", "--admin", "nora",
                 "--sandbox", stdout=io.StringIO())
    now_box = Provider.objects.get(slug="now-box")
    with inside(now_box):
        assert SandboxClock.objects.get().frozen_time == now_box.created_at == clock_now()

    with pytest.raises(CommandError, match=CLOCK_ONLY_FOR_SANDBOX):
        call_command("create_provider", "live-one", "--name", "Live", "--admin", "lee",
                     "--frozen-at", "2026-03-01T00:00:00Z", stdout=io.StringIO())
    with pytest.raises(CommandError, match="UTC offset"):
        call_command("create_provider", "naive", "--name", "Naive", "--admin", "nat",
                     "--sandbox", "--frozen-at", "2026-03-01 00:00", stdout=io.StringIO())
    assert not Provider.objects.filter(slug__in=["live-one", "naive"]).exists()
    assert Api(Provider.objects.get(slug="beta"), "bob").get(
        "/api/v1/test-clock").json()["error"]["message"] == NOT_A_SANDBOX
