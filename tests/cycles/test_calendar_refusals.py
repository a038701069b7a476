"""What the billing calendar refuses, each case with its 4xx body, never a 500:
- a write into a finalized cycle (409 `cycle_finalized`; per item in a batch, the rest
  stored), whose events are kept in the late-usage report (API and dashboard);
- a write before the provider's billing start (409 `before_billing_start`);
- an event dated beyond the future horizon (per item, `beyond_future_horizon`);
- an instant UTC cannot hold (year 1 with a positive offset, year 9999 with a negative
  one): 400 or a per-item reason."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Role
from core.api_gate import ERR_INSTANT
from core.periods import month_period
from cycles.guard import BEFORE_BILLING_START, BEYOND_HORIZON, CYCLE_FINALIZED
from cycles.models import BillingCycle, CycleStatus
from cycles.services import billing_start_set
from invoicing.models import Credit
from metering.models import LateEvent, LifecycleEvent, UsageEvent
from tests.catalog.conftest import api_client, user_with_role
from tests.conftest import PASSWORD, host_client, inside, sign_in
from tests.factories import make_price
from tests.metering.conftest import event

LATE = "2026-09-15T00:00:00Z"
LATE_MESSAGE = CYCLE_FINALIZED.format(when="2026-09-15T00:00:00+00:00", label="2026-09")
USAGE = {"metric": "requests", "project": "adventure", "value": "2"}
YEAR_1 = "0001-01-01T00:00:00+01:00"
YEAR_9999 = "9999-12-31T23:00:00-05:00"


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture
def finalized(fleet):
    """alpha (Pacific/Auckland) with September 2026 finalized and a priced instance."""
    september = month_period(2026, 9, "Pacific/Auckland")
    BillingCycle.objects.create(start=september.start, end=september.end, label="2026-09",
                                status=CycleStatus.CLOSED, closed_at=september.end)
    make_price(fleet.instance, "0.10", "minute")
    return fleet


def late_refusal(field: str = "occurred_at") -> dict:
    return {"status": 409, "code": "cycle_finalized", "message": LATE_MESSAGE,
            "cycle": "2026-09", "fields": {field: [LATE_MESSAGE]}}


# --- item 3: finalized cycles, and the late-usage report ---------------------------------


def test_a_late_lifecycle_event_is_refused_stored_nowhere_and_kept_in_the_report(finalized):
    api = api_client(finalized.provider, "alice")
    sent = {"events": [event("late", at=LATE),
                       event("fine", resource_id="i-2", at="2026-11-02T00:00:00Z")]}
    answer = api.post("/api/v1/resources/events", sent, content_type="application/json")
    assert answer.status_code == 200
    late, fine = answer.json()["items"]
    assert late == {"index": 0, "event_id": "late", "status": "refused",
                    "reason": LATE_MESSAGE, "error": late_refusal()}
    assert fine["status"] == "accepted"
    assert list(LifecycleEvent.objects.values_list("event_id", flat=True)) == ["fine"]

    report = api.get("/api/v1/usage/late").json()
    assert report["count"] == 1
    row = report["results"][0]
    assert {k: row[k] for k in ("stream", "event_id", "occurred_at", "cycle", "project",
                                "subject", "summary", "received_count")} == {
        "stream": "lifecycle", "event_id": "late", "occurred_at": "2026-09-15T00:00:00Z",
        "cycle": "2026-09", "project": "adventure", "subject": "i-1",
        "summary": "created instance 4cpu-16gb in mars", "received_count": 1}
    # Sent again: still refused, counted, not duplicated.
    api.post("/api/v1/resources/events", {"events": [event("late", at=LATE)]},
             content_type="application/json")
    assert LateEvent.objects.get(event_id="late").received_count == 2
    assert api.get("/api/v1/usage/late?cycle=2026-10").json()["count"] == 0


def test_a_late_usage_event_is_refused_and_kept_in_the_report(finalized):
    api = api_client(finalized.provider, "alice")
    answer = api.post("/api/v1/usage/events", {"events": [
        {"event_id": "late-u", "occurred_at": LATE, **USAGE},
        {"event_id": "fine-u", "occurred_at": "2026-11-02T00:00:00Z", **USAGE}]},
        content_type="application/json").json()
    assert [i["status"] for i in answer["items"]] == ["refused", "accepted"]
    assert answer["items"][0]["error"] == late_refusal()
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["fine-u"]
    row = api.get("/api/v1/usage/late?stream=usage&cycle=2026-09").json()["results"][0]
    assert (row["event_id"], row["subject"], row["summary"], row["details"]["value"]) == (
        "late-u", "requests", "requests = 2", "2")


def test_the_late_usage_report_is_for_fleet_roles_with_its_reasons(finalized):
    user_with_role(finalized.provider, "ola", Role.ORG_ADMIN)
    assert api_client(finalized.provider, "ola").get("/api/v1/usage/late").status_code == 403
    bad = api_client(finalized.provider, "alice").get("/api/v1/usage/late?cycle=2026-9")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["cycle"] == [
        "month must be written YYYY-MM, e.g. 2026-03: '2026-9'"]


def test_the_operator_dashboard_lists_late_usage(finalized):
    api_client(finalized.provider, "alice").post(
        "/api/v1/resources/events", {"events": [event("late", at=LATE)]},
        content_type="application/json")
    client = host_client(finalized.provider)
    assert sign_in(client, "alice", PASSWORD)
    page = client.get("/operator/late/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "late" in html and "2026-09" in html and "created instance 4cpu-16gb" in html
    csv = client.get("/operator/late/?format=csv&cycle=2026-09")
    assert csv.status_code == 200
    text = b"".join(csv.streaming_content).decode()
    assert "lifecycle,late,2026-09-15T00:00:00+00:00,2026-09" in text


# --- the billing start -----------------------------------------------------------------------


@pytest.fixture
def from_2026(fleet):
    """alpha billing from January 2026 (Auckland): 2025-12-31 11:00 UTC."""
    billing_start_set(month="2026-01")
    make_price(fleet.instance, "0.10", "minute")
    return fleet


BEFORE = "2025-12-31T10:00:00Z"


def before_refusal(field: str) -> dict:
    message = BEFORE_BILLING_START.format(when="2025-12-31T10:00:00+00:00", label="2026-01",
                                          start="2025-12-31T11:00:00+00:00", slug="alpha")
    return {"status": 409, "code": "before_billing_start", "message": message,
            "billing_start": "2026-01", "fields": {field: [message]}}


def test_writes_before_the_billing_start_answer_409_with_the_reason(from_2026):
    api = api_client(from_2026.provider, "alice")
    refused = [
        ("effective_from", api.put("/api/v1/system/billing/instance", {
            "variant": "4cpu-16gb", "rate": "0.2", "unit": "minute", "effective_from": BEFORE},
            content_type="application/json")),
        ("window_start", api.post("/api/v1/credits", {
            "name": "Old", "description": "outage", "window_start": BEFORE,
            "window_end": "2026-01-05T00:00:00Z", "organization": "mars-corp"},
            content_type="application/json")),
        ("billing_from", api.post("/api/v1/projects", {
            "name": "old-project", "organization": "mars-corp", "billing_from": BEFORE},
            content_type="application/json")),
    ]
    for field, answer in refused:
        assert answer.status_code == 409, answer.content
        assert answer.json() == {"error": before_refusal(field)}
    assert not Credit.objects.exists()


def test_events_before_the_billing_start_are_refused_per_item(from_2026):
    api = api_client(from_2026.provider, "alice")
    lifecycle = api.post("/api/v1/resources/events", {"events": [
        event("old", at=BEFORE), event("new", resource_id="i-2", at="2026-01-02T00:00:00Z")]},
        content_type="application/json").json()
    usage = api.post("/api/v1/usage/events", {"events": [
        {"event_id": "old-u", "occurred_at": BEFORE, **USAGE}]},
        content_type="application/json").json()
    assert [i["status"] for i in lifecycle["items"]] == ["refused", "accepted"]
    assert lifecycle["items"][0]["error"] == before_refusal("occurred_at")
    assert usage["items"][0]["error"] == before_refusal("occurred_at")
    assert not LateEvent.objects.exists()  # not late: never billable


def test_the_cycles_api_lists_the_calendar_and_opens_a_month(from_2026):
    api = api_client(from_2026.provider, "alice")
    opened = api.post("/api/v1/cycles", {"month": "2026-03"}, content_type="application/json")
    assert opened.status_code == 201
    assert opened.json() == {"label": "2026-03", "start": "2026-02-28T11:00:00Z",
                             "end": "2026-03-31T11:00:00Z", "last_day": "2026-03-31",
                             "status": "open", "closed_at": None}
    again = api.post("/api/v1/cycles", {"month": "2026-03"}, content_type="application/json")
    assert again.status_code == 200
    before = api.post("/api/v1/cycles", {"month": "2025-12"}, content_type="application/json")
    assert before.status_code == 409
    assert before.json()["error"]["code"] == "before_billing_start"
    calendar = api.get("/api/v1/cycles").json()
    assert (calendar["time_zone"], calendar["billing_start"], calendar["billing_start_month"],
            calendar["future_horizon_seconds"]) == (
        "Pacific/Auckland", "2025-12-31T11:00:00Z", "2026-01", 86400)
    assert "2026-03" in [c["label"] for c in calendar["cycles"]]
    user_with_role(from_2026.provider, "vera", Role.FLEET_VIEWER)
    viewer = api_client(from_2026.provider, "vera")
    assert viewer.get("/api/v1/cycles").status_code == 200
    assert viewer.post("/api/v1/cycles", {"month": "2026-04"},
                       content_type="application/json").status_code == 403
    user_with_role(from_2026.provider, "ola", Role.ORG_ADMIN)
    assert api_client(from_2026.provider, "ola").get("/api/v1/cycles").status_code == 404


# --- item 4: the future horizon, and instants UTC cannot hold -------------------------------


def test_events_beyond_the_future_horizon_are_refused_per_item(fleet):
    api = api_client(fleet.provider, "alice")
    now = datetime.now(UTC)
    soon = iso(now + timedelta(hours=1))
    far = iso(now + timedelta(days=2))
    lifecycle = api.post("/api/v1/resources/events", {"events": [
        event("soon", at=soon), event("far", resource_id="i-2", at=far)]},
        content_type="application/json").json()
    usage = api.post("/api/v1/usage/events", {"events": [
        {"event_id": "far-u", "occurred_at": far, **USAGE}]},
        content_type="application/json").json()
    assert [i["status"] for i in lifecycle["items"]] == ["accepted", "refused"]
    for refused in (lifecycle["items"][1], usage["items"][0]):
        error = refused["error"]
        assert (error["status"], error["code"]) == (400, "beyond_future_horizon")
        assert refused["reason"] == error["message"] == error["fields"]["occurred_at"][0]
        assert error["message"].startswith(BEYOND_HORIZON.split("{horizon}")[0].format(
            when=datetime.fromisoformat(far).isoformat()))
        assert "is more than 1 day ahead of now" in error["message"]
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize("instant", [YEAR_1, YEAR_9999])
def test_instants_utc_cannot_hold_are_refused_by_ingestion(fleet, instant):
    api = api_client(fleet.provider, "alice")
    for path, item in (("/api/v1/resources/events", event("edge", at=instant)),
                       ("/api/v1/usage/events",
                        {"event_id": "edge-u", "occurred_at": instant, **USAGE})):
        answer = api.post(path, {"events": [item]}, content_type="application/json")
        assert answer.status_code == 200
        refused = answer.json()["items"][0]
        assert refused["status"] == "refused"
        # The input gate refuses it first, with its range (core/api_gate.py).
        assert refused["fields"] == {"occurred_at": [ERR_INSTANT]}


@pytest.mark.parametrize("instant", [YEAR_1, YEAR_9999])
def test_instants_utc_cannot_hold_are_a_400_for_single_writes(finalized, instant):
    api = api_client(finalized.provider, "alice")
    price = api.put("/api/v1/system/billing/instance", {
        "variant": "4cpu-16gb", "rate": "0.2", "unit": "minute", "effective_from": instant},
        content_type="application/json")
    assert price.status_code == 400
    assert price.json()["error"]["fields"] == {"effective_from": [ERR_INSTANT]}
    for path, body in (
        ("/api/v1/credits", {"name": "Edge", "description": "edge", "window_start": instant,
                             "window_end": "2026-11-05T00:00:00Z", "organization": "mars-corp"}),
        ("/api/v1/projects", {"name": "edge", "organization": "mars-corp",
                              "billing_from": instant}),
    ):
        answer = api.post(path, body, content_type="application/json")
        assert answer.status_code == 400, answer.content
        assert answer.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_the_first_and_last_instants_utc_holds_are_refused_at_the_gate(fleet, instant):
    api = api_client(fleet.provider, "alice")
    refused = api.post("/api/v1/usage/events", {"events": [
        {"event_id": "edge", "occurred_at": instant, **USAGE}]},
        content_type="application/json").json()["items"][0]
    # Outside 1900–2200 the gate answers before the calendar (which would say "before
    # the billing start" or "beyond the future horizon").
    assert refused["status"] == "refused"
    assert refused["fields"] == {"occurred_at": [ERR_INSTANT]}
    with inside(fleet.provider):
        assert not BillingCycle.objects.filter(label__in=["0001-01", "9999-12"]).exists()
