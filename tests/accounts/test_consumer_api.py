"""Consumer API: offers, entitlements, checks, usage ingestion (CloudEvents too),
unentitled usage and the upcoming invoice, with roles, isolation and query bounds."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.consumer_apis import DATED_BY_FLEET_ADMINS
from accounts.entitlements import NOT_AHEAD, entitlement_accept
from accounts.models import Entitlement, Role, RoleGrant
from cycles.models import BillingCycle
from invoicing.models import Invoice
from invoicing.rating_run import rating_run
from metering.models import IngestionDay, UsageEvent
from tests.accounts.support import Api, make_user
from tests.catalog.conftest import real_queries
from tests.conftest import inside
from tests.factories import make_cycle
from tests.offers_world import datum_catalog, make_consumer, sells_offers

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


@pytest.fixture
def setup(alpha, no_cycles, clock):
    """Alpha sells offers; acme (admin `ann`, viewer `vic`) and globex; `alice` is fleet."""
    sells_offers(alpha)
    with inside(alpha):
        datum_catalog(now=NOW - timedelta(days=60))
        acme = make_consumer("acme")
        globex = make_consumer("globex")
        ann, vic = make_user("ann"), make_user("vic")
        RoleGrant.objects.create(user=ann, role=Role.ORG_ADMIN, organization=acme.org)
        RoleGrant.objects.create(user=vic, role=Role.ORG_BILLING_VIEWER, organization=acme.org)
    return {"acme": acme, "globex": globex, "fleet": Api(alpha, "alice"),
            "ann": Api(alpha, "ann"), "vic": Api(alpha, "vic")}


def test_offers_are_listed_to_consumers_private_ones_to_fleet_roles(setup, alpha):
    listed = setup["ann"].get("/api/v1/offers")
    assert listed.status_code == 200
    assert [o["key"] for o in listed.json()] == ["free", "pro"]
    pro = listed.json()[1]
    assert pro["version"] == 1 and pro["services"] == ["compute", "dns"]
    assert {c["model"] for c in pro["charges"]} == {"graduated", "package", "recurring",
                                                     "one_time"}
    assert {f["feature"]: f["limit"] for f in pro["features"]}["dns.zones"] == "25"
    fleet = setup["fleet"].get("/api/v1/offers").json()
    assert [o["key"] for o in fleet] == ["enterprise", "free", "pro"]
    assert setup["ann"].get("/api/v1/offers/enterprise").status_code == 404
    assert setup["fleet"].get("/api/v1/offers/enterprise").json()["public"] is False
    with inside(alpha):
        with real_queries(at_most=8):
            response = setup["ann"].get("/api/v1/offers")
    assert response.status_code == 200


def test_an_org_admin_accepts_and_ends_an_offer(setup, alpha):
    acme = setup["acme"]
    path = f"/api/v1/billing-accounts/{acme.account.pk}/entitlements"
    assert setup["vic"].post(path, {"offer": "pro"}).status_code == 403
    private = setup["ann"].post(path, {"offer": "enterprise"})
    assert private.status_code == 400 and "private" in private.json()["error"]["fields"][
        "offer"][0]
    created = setup["ann"].post(path, {"offer": "pro"})
    assert created.status_code == 201
    body = created.json()
    assert (body["offer"], body["version"], body["active"], body["end"]) == (
        "pro", 1, True, None)
    assert body["start"].startswith("2026-03-15T12:00:00")
    again = setup["ann"].post(path, {"offer": "pro"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    listed = setup["vic"].get(path)
    assert listed.status_code == 200 and [e["offer"] for e in listed.json()] == ["pro"]
    end_path = f"{path}/{body['id']}/end"
    assert setup["vic"].post(end_path).status_code == 403
    with inside(alpha):
        Entitlement.objects.filter(pk=body["id"]).update(start=NOW - timedelta(days=1))
    ended = setup["ann"].post(end_path)
    assert ended.status_code == 200 and ended.json()["active"] is False
    assert setup["ann"].post(end_path).json()["end"] == ended.json()["end"]

    # Another organization's account: 404, never its data.
    other = f"/api/v1/billing-accounts/{setup['globex'].account.pk}/entitlements"
    assert setup["ann"].get(other).status_code == 404
    assert setup["ann"].post(other, {"offer": "pro"}).status_code == 404
    with inside(alpha):
        for i in range(5):
            entitlement_accept(billing_account=setup["globex"].account,
                               offer_key="free" if i % 2 else "pro",
                               now=NOW + timedelta(hours=i))
        with real_queries(at_most=6):
            assert len(setup["fleet"].get(other).json()) == 5


def test_checks_and_reservations_through_the_api(setup, alpha):
    acme = setup["acme"]
    body = {"project": acme.project.name, "feature": "dns.zones", "quantity": 2}
    answer = setup["vic"].post("/api/v1/entitlements/check", body)
    assert answer.status_code == 200
    assert (answer.json()["allowed"], answer.json()["reason"]) == (False, "not_entitled")
    with inside(alpha):
        entitlement_accept(billing_account=acme.account, offer_key="free",
                           now=NOW - timedelta(hours=1))
    answer = setup["vic"].post("/api/v1/entitlements/check", body).json()
    assert (answer["allowed"], answer["reason"], answer["limit"], answer["remaining"]) == (
        False, "quota_exceeded", "1", "1")
    assert setup["vic"].post("/api/v1/entitlements/reserve", body).status_code == 403
    reserve = {**body, "quantity": 1}
    first = setup["fleet"].post("/api/v1/entitlements/reserve", reserve).json()
    second = setup["fleet"].post("/api/v1/entitlements/reserve", reserve).json()
    assert (first["allowed"], first["remaining"]) == (True, "0")
    assert (second["allowed"], second["reason"]) == (False, "quota_exceeded")
    released = setup["fleet"].post("/api/v1/entitlements/release", {**reserve, "quantity": 5})
    assert released.status_code == 409
    bad = setup["fleet"].post("/api/v1/entitlements/check", {"project": acme.project.name})
    assert bad.status_code == 400 and "feature" in bad.json()["error"]["fields"]
    outsider = setup["ann"].post("/api/v1/entitlements/check",
                                 {**body, "project": setup["globex"].project.name})
    assert outsider.status_code == 404


def _cloudevent(event_id, value, *, project="acme-web"):
    return {"specversion": "1.0", "id": event_id, "source": "//dns.example/zones",
            "type": "dns.queries", "subject": project, "time": "2026-03-15T10:00:00Z",
            "datacontenttype": "application/json",
            "data": {"value": value, "attributes": {"zone": "acme.example"}}}


def _post(api, body, content_type):
    return api.client.post("/api/v1/usage/events", json.dumps(body),
                           content_type=content_type, **api.headers)


def test_usage_ingestion_in_cloudevents_is_idempotent_by_id(setup, alpha):
    fleet = setup["fleet"]
    single = _post(fleet, _cloudevent("ce-1", 1200.5), "application/cloudevents+json")
    assert single.status_code == 200
    assert single.json()["items"] == [{"index": 0, "event_id": "ce-1", "status": "accepted"}]
    duplicate = _post(fleet, _cloudevent("ce-1", 1200.5), "application/cloudevents+json")
    assert duplicate.json()["items"][0]["status"] == "duplicate"
    changed = _post(fleet, _cloudevent("ce-1", 3), "application/cloudevents+json")
    assert "different body" in changed.json()["items"][0]["reason"]
    batch = _post(fleet, [_cloudevent("ce-2", "7"), {"id": "ce-3", "specversion": "0.3"},
                          _cloudevent("ce-2", "7"), _cloudevent("ce-4", "-1")],
                  "application/cloudevents-batch+json").json()
    assert [i["status"] for i in batch["items"]] == ["accepted", "refused", "duplicate",
                                                     "refused"]
    assert set(batch["items"][1]["fields"]) == {"specversion", "source", "type", "metric",
                                                "project", "occurred_at", "value"}
    assert "value" in batch["items"][3]["fields"]
    plain = fleet.post("/api/v1/usage/events", {"events": [
        {"event_id": "u-1", "metric": "instance", "project": "acme-web",
         "occurred_at": "2026-03-15T10:00:00Z", "value": "1"}]}).json()
    assert "resource type" in plain["items"][0]["reason"]
    assert setup["ann"].post("/api/v1/usage/events", {"events": []}).status_code == 403
    with inside(alpha):
        assert UsageEvent.objects.get(event_id="ce-1").value == Decimal("1200.5")
        assert UsageEvent.objects.count() == 2
        day = IngestionDay.objects.get(stream="usage")
        assert (day.accepted, day.duplicate, day.refused) == (2, 3, 3)


def test_unentitled_usage_and_the_upcoming_invoice(setup, alpha):
    acme, fleet = setup["acme"], setup["fleet"]
    _post(fleet, _cloudevent("early", "300"), "application/cloudevents+json")
    with inside(alpha):
        entitlement_accept(billing_account=acme.account, offer_key="pro",
                           now=datetime(2026, 3, 15, 11, tzinfo=UTC))
    covered = _cloudevent("later", "2000000")
    covered["time"] = "2026-03-15T11:30:00Z"
    _post(fleet, covered, "application/cloudevents+json")

    unentitled = fleet.get("/api/v1/usage/unentitled")
    assert unentitled.status_code == 200
    assert unentitled.json() == [{
        "project": "acme-web", "organization": "acme", "metric": "dns.queries", "events": 1,
        "total_value": "300", "first_at": "2026-03-15T10:00:00Z",
        "last_at": "2026-03-15T10:00:00Z"}]
    assert setup["ann"].get("/api/v1/usage/unentitled").status_code == 403

    with inside(alpha):
        cycle = make_cycle(datetime(2026, 2, 28, 11, tzinfo=UTC),
                           datetime(2026, 3, 31, 11, tzinfo=UTC), "2026-03")
        rating_run(cycle=cycle, now=NOW)
    upcoming = setup["vic"].get(f"/api/v1/billing-accounts/{acme.account.pk}/upcoming-invoice")
    assert upcoming.status_code == 200
    body = upcoming.json()
    assert (body["period"], body["status"], body["currency"]) == ("2026-03", "draft", "EUR")
    kinds = sorted({line["kind"] for line in body["lines"]})
    assert kinds == ["one_time", "recurring", "usage"]
    # Graduated: a line per tier, each quantity x rate = amount.
    usage = [line for line in body["lines"] if line["kind"] == "usage"]
    assert [(line["quantity"], line["amount"]) for line in usage] == [
        ("1000000", "0.00"), ("1000000", "0.40")]
    # 1 hour of Pro so far (30.00 over March's 31 days, in Auckland) plus 49.00 and 0.40.
    recurring = next(line for line in body["lines"] if line["kind"] == "recurring")
    assert recurring["amount"] == "0.04"
    assert body["total"] == "49.44"
    # The forecast: the fee for the rest of the month (15.96 days at 30/31 a day: 15.44)
    # and the queries at their pace (2,000,000 in 15.04 days: 4,121,884 by the end, 0.85
    # more in tier 2).
    assert body["forecast"] == "65.73"
    assert setup["ann"].get(
        f"/api/v1/billing-accounts/{setup['globex'].account.pk}/upcoming-invoice"
    ).status_code == 404
    with inside(alpha):
        with real_queries(at_most=8):
            fleet.get("/api/v1/usage/unentitled")


def test_two_providers_stay_apart(setup, alpha, beta):
    acme = setup["acme"]
    with inside(beta):
        make_user("beatrice")
    beta_fleet = Api(beta, "bob")
    assert beta_fleet.get("/api/v1/offers").json() == []
    assert beta_fleet.get(
        f"/api/v1/billing-accounts/{acme.account.pk}/entitlements").status_code == 404
    assert beta_fleet.post("/api/v1/entitlements/check",
                           {"project": acme.project.name, "feature": "dns.zones"}
                           ).status_code == 404
    assert beta_fleet.get("/api/v1/usage/unentitled").json() == []
    # Alpha's API key on beta's host: 401.
    alpha_key = setup["fleet"].headers
    from tests.conftest import host_client

    assert host_client(beta).get("/api/v1/offers", **alpha_key).status_code == 401
    assert host_client(beta).post("/api/v1/usage/events", "[]",
                                  content_type="application/cloudevents-batch+json",
                                  **alpha_key).status_code == 401


def test_a_fleet_admin_imports_an_entitlement_with_its_past_dates(setup, alpha):
    acme = setup["acme"]
    path = f"/api/v1/billing-accounts/{acme.account.pk}/entitlements"
    dated = {"offer": "pro", "accepted_at": "2026-02-10T00:00:00Z"}
    forbidden = setup["ann"].post(path, dated)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["message"] == DATED_BY_FLEET_ADMINS
    before = setup["fleet"].post(path, {"offer": "pro", "accepted_at": "1999-12-01T00:00:00Z"})
    assert before.status_code == 409
    assert before.json()["error"]["code"] == "before_billing_start"
    ahead = setup["fleet"].post(path, {"offer": "pro", "accepted_at": "2199-12-31T23:59:59Z"})
    assert ahead.status_code == 400
    assert ahead.json()["error"]["fields"] == {"accepted_at": [NOT_AHEAD]}

    created = setup["fleet"].post(path, dated)
    assert created.status_code == 201
    assert created.json()["start"] == "2026-02-10T00:00:00Z"
    ended = setup["fleet"].post(f"{path}/{created.json()['id']}/end",
                                {"ended_at": "2026-02-20T00:00:00Z"})
    assert ended.status_code == 200
    assert (ended.json()["end"], ended.json()["active"]) == ("2026-02-20T00:00:00Z", False)
    with inside(alpha):
        february = BillingCycle.objects.get(label="2026-02")  # made by the dated write
        rating_run(cycle=february, now=NOW)
        lines = {line.description: line.amount
                 for line in Invoice.objects.get(cycle=february).lines.all()}
    # Auckland's February is 28 days; Pro ran 10 of them: 30.00 x 10 / 28, and its fee.
    assert lines == {"Pro plan (Pro v1)": Decimal("10.71"),
                     "Onboarding (Pro v1)": Decimal("49.00")}
