"""One refusal for writes dated in a finalized cycle, whichever way they arrive: the
prices API, lifecycle and usage ingestion (per item), the credits API, the project
move API and the admin all answer with cycles.guard's 409 `cycle_finalized` body."""

from datetime import UTC, datetime

import pytest

from accounts.models import BillingAccount, ProjectAccountAssignment
from core.periods import month_period
from cycles.guard import CYCLE_FINALIZED
from cycles.models import BillingCycle, CycleStatus
from invoicing.models import Credit
from metering.models import LifecycleEvent, UsageEvent
from tests.catalog.conftest import api_client
from tests.conftest import PASSWORD, host_client, sign_in
from tests.factories import make_price
from tests.metering.conftest import event

WHEN = "2026-09-15T00:00:00Z"
MESSAGE = CYCLE_FINALIZED.format(when="2026-09-15T00:00:00+00:00", label="2026-09")


def refusal(field: str) -> dict:
    """The error envelope's body every path gives, naming the field it refused."""
    return {"status": 409, "code": "cycle_finalized", "message": MESSAGE, "cycle": "2026-09",
            "fields": {field: [MESSAGE]}}


@pytest.fixture
def finalized(fleet):
    """alpha (Pacific/Auckland) with September 2026 finalized, a priced instance type, a
    usage metric, and a second billing account for mars-corp."""
    september = month_period(2026, 9, "Pacific/Auckland")
    BillingCycle.objects.create(start=september.start, end=september.end, label="2026-09",
                                status=CycleStatus.CLOSED, closed_at=september.end)
    make_price(fleet.instance, "0.10", "minute")
    fleet.research = BillingAccount.objects.create(organization=fleet.org, name="Research")
    return fleet


def api(fleet):
    return api_client(fleet.provider, "alice")


def test_the_prices_api_answers_409_cycle_finalized(finalized):
    response = api(finalized).put("/api/v1/system/billing/instance", {
        "variant": "4cpu-16gb", "rate": "0.2", "unit": "minute", "effective_from": WHEN},
        content_type="application/json")
    assert response.status_code == 409
    assert response.json() == {"error": refusal("effective_from")}


def test_lifecycle_ingestion_refuses_the_item_and_stores_the_rest(finalized):
    response = api(finalized).post("/api/v1/resources/events", {"events": [
        event("late", at=WHEN), event("fine", resource_id="i-2", at="2026-11-02T00:00:00Z")]},
        content_type="application/json")
    assert response.status_code == 200, response.content
    late, fine = response.json()["items"]
    assert late["status"] == "refused" and late["error"] == refusal("occurred_at")
    assert fine["status"] == "accepted"
    assert list(LifecycleEvent.objects.values_list("event_id", flat=True)) == ["fine"]


def test_usage_ingestion_refuses_the_item_and_stores_the_rest(finalized):
    usage = {"metric": "requests", "project": "adventure", "value": "2"}
    response = api(finalized).post("/api/v1/usage/events", {"events": [
        {"event_id": "late", "occurred_at": WHEN, **usage},
        {"event_id": "fine", "occurred_at": "2026-11-02T00:00:00Z", **usage}]},
        content_type="application/json")
    assert response.status_code == 200, response.content
    late, fine = response.json()["items"]
    assert late["status"] == "refused" and late["error"] == refusal("occurred_at")
    assert fine["status"] == "accepted"
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["fine"]


def test_the_credits_api_answers_409_cycle_finalized(finalized):
    response = api(finalized).post("/api/v1/credits", {
        "name": "Late", "description": "outage", "window_start": WHEN,
        "window_end": "2026-09-15T05:00:00Z", "organization": "mars-corp"},
        content_type="application/json")
    assert response.status_code == 409
    assert response.json() == {"error": refusal("window_start")}
    assert not Credit.objects.exists()


def test_the_project_move_api_answers_409_cycle_finalized(finalized):
    before = list(ProjectAccountAssignment.objects.values_list("pk", "valid_to"))
    response = api(finalized).post("/api/v1/projects/adventure/move", {
        "billing_account": finalized.research.pk, "effective_from": WHEN},
        content_type="application/json")
    assert response.status_code == 409
    assert response.json() == {"error": refusal("effective_from")}
    assert list(ProjectAccountAssignment.objects.values_list("pk", "valid_to")) == before


def test_the_admin_shows_the_same_refusal_as_a_form_error(finalized):
    client = host_client(finalized.provider)
    assert sign_in(client, "alice", PASSWORD)
    response = client.post("/admin/catalog/price/add/", {
        "metric": "instance", "variant": "4cpu-16gb", "region": "", "service_class": "",
        # Typed in the provider's zone: noon in Auckland (NZST, UTC+12) is WHEN.
        "rate": "0.2", "time_unit": "minute", "effective_from_0": "2026-09-15",
        "effective_from_1": "12:00:00"})
    assert response.status_code == 200  # the form again, with the reason on the field
    # The same refusal, its instant shown as typed: in the provider's zone, with the offset.
    local = CYCLE_FINALIZED.format(when="2026-09-15T12:00:00+12:00", label="2026-09")
    assert local in response.content.decode().replace("&#x27;", "'")
    assert datetime(2026, 9, 15, tzinfo=UTC) not in list(
        finalized.instance.prices.values_list("valid_from", flat=True))
