"""SLA credits end to end: negative lines on the invoice, the API, the admin, the rules."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Role
from core.errors import Conflict
from cycles.guard import CYCLE_FINALIZED
from invoicing.closing import cycle_close
from invoicing.credits import ONE_SCOPE, credit_create
from invoicing.models import Credit, Invoice, LineKind
from invoicing.rating_run import rating_run
from tests.conftest import host_client, inside, sign_in
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    SEP_START,
    at,
    make_cycle,
    seed_adventure,
    seed_prices,
)
from tests.invoicing.test_billing_api import _client_for

WINDOW = (at(2020, 10, 15, 23), at(2020, 10, 16, 4, 30))


def test_the_seed_credit_on_the_invoice_instances_and_their_disks(beta):
    with inside(beta):
        org, _, instance, disk = seed_adventure()
        seed_prices(instance, disk)
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        credit_create(name="Downgraded instances",
                      description="Credit for downgraded instances in Region Mars",
                      window_start=WINDOW[0], window_end=WINDOW[1], organization=org,
                      region="mars", metric_key="instance")

        cycle_close(cycle=october, now=NOV_START)

        invoice = Invoice.objects.get(cycle=october)
        credits = {ln.metric_key: ln for ln in invoice.lines.filter(kind=LineKind.CREDIT)}
        assert credits["instance"].amount == Decimal("-495.00")
        assert credits["disk"].amount == Decimal("-247.50")
        assert credits["disk"].resource_count == 15
        assert credits["instance"].details["credit_name"] == "Downgraded instances"
        assert "Region Mars" in credits["instance"].description
        assert (credits["disk"].period_start, credits["disk"].period_end) == WINDOW
        assert invoice.subtotal == Decimal("100440.00")
        assert invoice.total == Decimal("99697.50")


def test_a_credit_created_mid_cycle_shows_on_the_draft_at_the_next_run(beta):
    with inside(beta):
        _, project, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        rating_run(cycle=october, now=at(2020, 10, 20))
        credit_create(name="Outage", description="Rack 3 lost power", window_start=WINDOW[0],
                      window_end=WINDOW[1], project=project)
        rating_run(cycle=october, now=at(2020, 10, 20))
        draft = Invoice.objects.get(cycle=october)
        assert sorted(draft.lines.filter(kind=LineKind.CREDIT).values_list("amount", flat=True)
                      ) == [Decimal("-33.00"), Decimal("-16.50")]


def test_credits_in_a_finalized_cycle_are_refused_with_the_reason(beta):
    with inside(beta):
        org, _, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        september = make_cycle(SEP_START, OCT_START, "2020-09")
        cycle_close(cycle=september, now=OCT_START)
        with pytest.raises(Conflict) as refused:
            credit_create(name="Late", description="too late", window_start=at(2020, 9, 30),
                          window_end=at(2020, 10, 2), organization=org)
        assert refused.value.message_dict == {"window_start": [CYCLE_FINALIZED.format(
            when=at(2020, 9, 30).isoformat(), label="2020-09")]}


def test_a_credit_names_exactly_one_scope(beta):
    with inside(beta), pytest.raises(ValidationError) as refused:
        credit_create(name="x", description="y", window_start=WINDOW[0], window_end=WINDOW[1])
    assert refused.value.message_dict["scope"] == [ONE_SCOPE]


def test_credits_over_the_api_fleet_admin_creates_scoped_roles_read(beta):
    with inside(beta):
        org, project, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        make_cycle(OCT_START, NOV_START, "2020-10")
    admin = _client_for(beta, "boss", role=Role.FLEET_ADMIN)
    created = admin.post("/api/v1/credits", {
        "name": "Downgraded", "description": "SLA breach", "window_start": "2020-10-15T23:00Z",
        "window_end": "2020-10-16T04:30Z", "organization": "mars-corp", "region": "mars",
        "resource_type": "instance"}, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["scope"] == "organization"

    bad = admin.post("/api/v1/credits", {"name": "x", "description": "y",
                                         "window_start": "2020-10-16T00:00Z",
                                         "window_end": "2020-10-15T00:00Z", "project": "adventure"},
                     content_type="application/json")
    assert bad.status_code == 400 and "window_end" in bad.json()["error"]["fields"]

    viewer = _client_for(beta, "dev", role=Role.PROJECT_BILLING_VIEWER, project=project)
    assert viewer.post("/api/v1/credits", {}, content_type="application/json").status_code == 403
    assert viewer.get("/api/v1/credits").json()["count"] == 0  # an org credit: not theirs
    finance = _client_for(beta, "finance", role=Role.ORG_BILLING_VIEWER, organization=org)
    assert finance.get("/api/v1/credits").json()["count"] == 1


def test_alpha_never_sees_betas_credits(alpha, beta):
    with inside(beta):
        org, _, _, _ = seed_adventure(instances=1)
        credit_create(name="x", description="y", window_start=WINDOW[0], window_end=WINDOW[1],
                      organization=org)
    assert _client_for(alpha, "alice").get("/api/v1/credits").json()["count"] == 0


def test_the_admin_creates_a_credit_and_shows_rule_errors_on_the_form(beta):
    with inside(beta):
        org, _, _, _ = seed_adventure(instances=1)
    client = host_client(beta)
    assert sign_in(client, "bob")
    form = {"name": "Outage", "description": "Power", "window_start_0": "2020-10-15",
            "window_start_1": "23:00:00", "window_end_0": "2020-10-16",
            "window_end_1": "04:30:00", "organization": str(org.pk), "region": "mars",
            "metric_key": ""}
    response = client.post("/admin/invoicing/credit/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    with inside(beta):
        assert Credit.objects.get().name == "Outage"

    backwards = {**form, "window_end_0": "2020-10-14"}
    response = client.post("/admin/invoicing/credit/add/", backwards)
    assert response.status_code == 200
    assert b"the window must end after it starts" in response.content
