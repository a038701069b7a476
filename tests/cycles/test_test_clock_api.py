"""The test clock over the API: Stripe's model (frozen time, advance, a status to poll),
forward only, for sandbox providers only, each refusal in the error envelope."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from core.api_gate import ERR_INSTANT
from core.locks import session_lock_release, session_lock_try
from core.timefmt import INSTANT_NEEDS_OFFSET
from cycles.clock import clock_now
from cycles.clock_advance import (
    ADVANCE_BACKWARDS,
    ADVANCE_NAIVE,
    ADVANCE_TOO_FAR,
    NOT_A_SANDBOX,
    STILL_ADVANCING,
)
from cycles.clock_apis import INSTANT_FORMAT
from cycles.clock_run import LOCK, STEP_FAILED, sandbox_clock_run
from cycles.models import BillingCycle, ClockAdvance, ClockStatus, CycleStatus, SandboxClock
from tests.accounts.support import Api, make_user
from tests.conftest import host_client, inside
from tests.cycles.sandbox import advance, berlin, iso, make_sandbox

FROZEN = berlin(2026, 3, 10, 9)


@pytest.fixture
def sandbox(beta, no_cycles, own_media):
    return make_sandbox(beta, frozen_at=FROZEN)


def test_a_live_provider_has_no_test_clock(alpha):
    api = Api(alpha, "alice")
    for response in (api.get("/api/v1/test-clock"),
                     api.post("/api/v1/test-clock/advance", {"to": "2030-01-01T00:00:00Z"})):
        assert response.status_code == 404
        assert response.json()["error"] == {"status": 404, "code": "not_found",
                                            "message": NOT_A_SANDBOX}
    with inside(alpha):
        before = datetime.now(UTC)
        assert before <= clock_now() <= datetime.now(UTC)  # real time


def test_the_clock_reads_frozen_in_utc_and_in_the_providers_zone(sandbox):
    body = Api(sandbox, "bob").get("/api/v1/test-clock").json()
    assert body == {"frozen_time": "2026-03-10T08:00:00Z",
                    "local_time": "2026-03-10T09:00:00+01:00", "timezone": "Europe/Berlin",
                    "status": "ready", "advancing_to": None, "error": ""}
    with inside(sandbox):
        assert clock_now() == FROZEN  # frozen: the same instant, however long the test takes


@pytest.mark.parametrize(("to", "reason"), [
    (iso(FROZEN), ADVANCE_BACKWARDS.format(now="2026-03-10T08:00:00Z")),
    (iso(FROZEN - timedelta(days=1)), ADVANCE_BACKWARDS.format(now="2026-03-10T08:00:00Z")),
    (iso(FROZEN + timedelta(days=367)),
     ADVANCE_TOO_FAR.format(days=366, limit="2027-03-11T08:00:00Z")),
    ("2026-04-01T00:00:00", ADVANCE_NAIVE),
    ("next tuesday", INSTANT_FORMAT),
    ("2026-02-30T00:00:00Z", INSTANT_FORMAT),
    # Out of the years Tally bills: the input gate's refusal (core/api_gate.py).
    ("0001-01-01T00:00:00+01:00", ERR_INSTANT),
    ("9999-12-31T23:00:00-05:00", ERR_INSTANT),
    (20260401, INSTANT_FORMAT),
])
def test_an_advance_backwards_too_far_or_without_offset_is_refused_with_its_reason(
        sandbox, to, reason):
    response = Api(sandbox, "bob").post("/api/v1/test-clock/advance", {"to": to})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["fields"] == {"to": [reason]}
    with inside(sandbox):
        assert SandboxClock.objects.get().status == ClockStatus.READY
        assert not ClockAdvance.objects.exists()


def test_a_second_advance_waits_for_the_first_to_finish(sandbox):
    api = Api(sandbox, "bob")
    first = api.post("/api/v1/test-clock/advance", {"to": iso(berlin(2026, 3, 20))})
    assert first.status_code == 202
    assert first.json()["advancing_to"] == iso(berlin(2026, 3, 20))
    second = api.post("/api/v1/test-clock/advance", {"to": iso(berlin(2026, 3, 25))})
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "test_clock_advancing"
    assert second.json()["error"]["message"] == STILL_ADVANCING.format(
        to=iso(berlin(2026, 3, 20)))
    with inside(sandbox):
        sandbox_clock_run()
    assert api.post("/api/v1/test-clock/advance",
                    {"to": iso(berlin(2026, 3, 25))}).status_code == 202


def test_only_a_fleet_admin_moves_the_clock_anyone_signed_in_reads_it(sandbox):
    with inside(sandbox):
        make_user("carol")
    carol = Api(sandbox, "carol")
    assert carol.get("/api/v1/test-clock").status_code == 200
    refused = carol.post("/api/v1/test-clock/advance", {"to": "2026-04-01T00:00:00Z"})
    assert refused.status_code == 403
    # The role table's refusal (accounts/policy.py), before the view's own check.
    assert refused.json()["error"]["code"] == "permission_denied"
    anonymous = host_client(sandbox).get("/api/v1/test-clock")
    assert anonymous.status_code == 401


def test_everything_in_the_sandbox_follows_its_clock_and_nothing_else_does(sandbox, alpha):
    api = Api(sandbox, "bob")
    assert api.get("/api/v1/test-clock").json()["frozen_time"] == iso(FROZEN)
    clock = advance(api, sandbox, berlin(2026, 4, 1, 12))
    assert clock["local_time"] == "2026-04-01T12:00:00+02:00"  # summer time now
    with inside(sandbox):
        assert clock_now() == berlin(2026, 4, 1, 12)
        march = BillingCycle.objects.get(label="2026-03")
        assert march.status == CycleStatus.OPEN  # two days of grace from 1 April, 00:00
        assert BillingCycle.objects.filter(label="2026-04").exists()
        advance_row = ClockAdvance.objects.get()
        assert advance_row.requested_by_name == "bob"
        assert advance_row.status == ClockStatus.READY and advance_row.finished_at
        # A step at every Berlin midnight from the 11th, and the target.
        assert advance_row.steps == 22 + 1
    # The clock lives in the sandbox's schema: the other provider runs on real time.
    assert Api(alpha, "alice").get("/api/v1/test-clock").status_code == 404
    with inside(alpha):
        assert clock_now().year == datetime.now(UTC).year


def test_the_host_cache_never_holds_the_clock_back(sandbox, settings):
    settings.TALLY_PROVIDER_CACHE_SECONDS = 3600  # the provider row is cached for the test
    api = Api(sandbox, "bob")
    assert api.get("/api/v1/test-clock").json()["frozen_time"] == iso(FROZEN)
    advance(api, sandbox, berlin(2026, 3, 11))
    assert api.get("/api/v1/test-clock").json()["frozen_time"] == iso(berlin(2026, 3, 11))


def test_a_step_that_fails_stops_the_clock_there_and_the_next_advance_resumes(
        sandbox, monkeypatch):
    def broken():
        raise RuntimeError("SMTP relay on fire")

    monkeypatch.setattr("cycles.clock_run.step_tasks", lambda: [broken])
    api = Api(sandbox, "bob")
    api.post("/api/v1/test-clock/advance", {"to": iso(berlin(2026, 3, 15))})
    with inside(sandbox):
        clock = sandbox_clock_run()
    assert clock.status == ClockStatus.FAILED
    assert clock.frozen_time == berlin(2026, 3, 11)  # the first step: the next midnight
    assert clock.error == STEP_FAILED.format(step=berlin(2026, 3, 11).isoformat(),
                                             error="RuntimeError: SMTP relay on fire")
    body = api.get("/api/v1/test-clock").json()
    assert body["status"] == "failed" and body["error"] == clock.error
    with inside(sandbox):
        assert ClockAdvance.objects.get().status == ClockStatus.FAILED

    monkeypatch.undo()
    advance(api, sandbox, berlin(2026, 3, 15))
    with inside(sandbox):
        assert [a.status for a in ClockAdvance.objects.order_by("id")] == ["failed", "ready"]
        assert ClockAdvance.objects.order_by("id").last().from_time == berlin(2026, 3, 11)


def test_a_run_finds_nothing_to_do_when_ready_and_stands_back_while_another_runs(sandbox):
    with inside(sandbox):
        assert sandbox_clock_run().status == ClockStatus.READY  # nothing asked: nothing moved
        assert clock_now() == FROZEN
    barrier = threading.Barrier(2)
    taken = []

    def other_worker():
        # Another database session (a second worker) holding the sandbox's clock.
        with inside(sandbox):
            taken.append(session_lock_try(LOCK))
            barrier.wait()
            barrier.wait()
            session_lock_release(LOCK)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    barrier.wait()
    try:
        with inside(sandbox):
            assert taken == [True]
            assert sandbox_clock_run() is None  # the other session's: it finishes the run
    finally:
        barrier.wait()
        thread.join()


def test_an_instant_needs_its_offset_in_commands_too():
    from core.timefmt import instant_from_iso

    assert instant_from_iso("2026-03-10T09:00:00+01:00") == datetime(2026, 3, 10, 8, tzinfo=UTC)
    assert instant_from_iso("2026-03-10T08:00:00Z") == datetime(2026, 3, 10, 8, tzinfo=UTC)
    for bad in ("2026-03-10T09:00:00", "soon", "0001-01-01T00:00:00+01:00"):
        with pytest.raises(ValueError, match=INSTANT_NEEDS_OFFSET):
            instant_from_iso(bad)
