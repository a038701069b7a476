"""Spend summaries, itemized exports and invoices over the API, with roles and isolation."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model

from accounts.api_keys import api_key_issue
from accounts.models import Role, RoleGrant
from invoicing.closing import cycle_close
from invoicing.models import Invoice, InvoiceLine
from invoicing.rating_run import rating_run
from tests.conftest import host_client, inside
from tests.factories import make_org, make_project
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    at,
    make_cycle,
    run_resource,
    seed_adventure,
    seed_prices,
)

User = get_user_model()


def _client_for(provider, username, *, role=None, organization=None, project=None):
    """An API client authenticated by an API key of a user holding `role`."""
    with inside(provider):
        user, _ = User.objects.get_or_create(username=username)
        if role:
            RoleGrant.objects.create(user=user, role=role, organization=organization,
                                     project=project)
        secret = api_key_issue(username=username, name="test").secret
    client = host_client(provider)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


@pytest.fixture
def october(beta):
    """Beta's October 2020 rated up to the 11th: adventure (mars-corp) and a second org."""
    with inside(beta):
        org, project, instance, disk = seed_adventure(instances=2)
        seed_prices(instance, disk)
        venus = make_org("venus-corp")
        other = make_project("secret-lab", venus)
        run_resource("i-secret", instance, "4cpu-16gb", other, since=OCT_START)
        cycle = make_cycle(OCT_START, NOV_START, "2020-10")
        rating_run(cycle=cycle, now=at(2020, 10, 11))
        return {"org": org, "project": project, "venus": venus, "other": other, "cycle": cycle}


def test_project_summary_total_split_daily_rate_and_forecast(beta, october):
    client = _client_for(beta, "ops", role=Role.FLEET_VIEWER)
    response = client.get("/api/v1/projects/adventure/billing?period=2020-10")
    assert response.status_code == 200
    body = response.json()
    assert body["project"] == "adventure"
    assert body["currency"] == "USD"
    assert body["period"]["label"] == "2020-10" and body["period"]["status"] == "open"
    # 10 days of 2 instances ($0.10/min) and 2 disks ($0.05/min).
    assert body["total"] == "4320.00"
    assert body["by_resource_type"] == [
        {"resource_type": "disk", "amount": "1440.00"},
        {"resource_type": "instance", "amount": "2880.00"},
    ]
    assert body["daily_rate"] == "432.00"  # 2 x 1440 x 0.10 + 2 x 1440 x 0.05
    assert body["forecast"] == "13392.00"  # 4320 + 21 days x 432
    assert body["rated_until"] == "2020-10-11T00:00:00Z"


def test_organization_summary_covers_its_projects_only(beta, october):
    client = _client_for(beta, "ops", role=Role.FLEET_VIEWER)
    assert client.get("/api/v1/organizations/mars-corp/billing?period=2020-10").json()[
        "total"] == "4320.00"
    assert client.get("/api/v1/organizations/venus-corp/billing?period=2020-10").json()[
        "total"] == "1440.00"


def test_scoped_roles_see_only_their_own_spend(beta, october):
    project_viewer = _client_for(beta, "dev", role=Role.PROJECT_BILLING_VIEWER,
                                 project=october["project"])
    assert project_viewer.get("/api/v1/projects/adventure/billing?period=2020-10"
                              ).status_code == 200
    for path in ("/api/v1/projects/secret-lab/billing?period=2020-10",
                 "/api/v1/organizations/mars-corp/billing?period=2020-10",
                 "/api/v1/organizations/venus-corp/billing?period=2020-10"):
        response = project_viewer.get(path)
        assert response.status_code == 404, path
        assert "secret" not in response.content.decode().replace("secret-lab", "")

    org_viewer = _client_for(beta, "finance", role=Role.ORG_BILLING_VIEWER,
                             organization=october["org"])
    assert org_viewer.get("/api/v1/organizations/mars-corp/billing?period=2020-10"
                          ).status_code == 200
    assert org_viewer.get("/api/v1/projects/adventure/billing?period=2020-10").status_code == 200
    assert org_viewer.get("/api/v1/projects/secret-lab/billing?period=2020-10"
                          ).status_code == 404


def test_a_bad_or_unknown_period_is_a_clear_error(beta, october):
    client = _client_for(beta, "ops", role=Role.FLEET_VIEWER)
    bad = client.get("/api/v1/projects/adventure/billing?period=October")
    assert bad.status_code == 400
    assert "period" in bad.json()["error"]["fields"]
    missing = client.get("/api/v1/projects/adventure/billing?period=1999-01")
    assert missing.status_code == 404
    assert "1999-01" in missing.json()["error"]["message"]


def test_itemized_export_filters_and_carries_daily_rate_and_total(beta, october,
                                                                 django_assert_max_num_queries):
    client = _client_for(beta, "ops", role=Role.FLEET_VIEWER)
    with django_assert_max_num_queries(16):
        response = client.get("/api/v1/billing/items?period=2020-10&organization=mars-corp")
    assert response.status_code == 200
    items = response.json()["results"]
    assert {item["resource_type"] for item in items} == {"instance", "disk"}
    instance = next(i for i in items if i["resource_type"] == "instance")
    assert instance["project"] == "adventure" and instance["organization"] == "mars-corp"
    assert (instance["quantity"], instance["rate"], instance["amount"]) == ("28800", "0.1",
                                                                             "2880.00")
    assert instance["daily_rate"] == "288.00" and instance["currency"] == "USD"
    assert instance["resource_count"] == 2 and instance["invoice"] is None

    only_disks = client.get("/api/v1/billing/items?period=2020-10&resource_type=disk&region=mars")
    assert {i["resource_type"] for i in only_disks.json()["results"]} == {"disk"}


def test_csv_export_is_safe_against_formula_injection(beta, october):
    with inside(beta):
        InvoiceLine.objects.filter(project=october["project"], metric_key="disk").update(
            project_name='=HYPERLINK("http://evil")')
    client = _client_for(beta, "ops", role=Role.FLEET_VIEWER)
    response = client.get("/api/v1/billing/items.csv?period=2020-10&project=adventure")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2
    disk = next(r for r in rows if r["resource_type"] == "disk")
    assert disk["project"] == "'=HYPERLINK(\"http://evil\")"
    assert disk["amount"] == "1440.00"


def test_invoices_list_detail_and_void_over_the_api(beta, october):
    with inside(beta):
        cycle_close(cycle=october["cycle"], now=NOV_START)
        invoice = Invoice.objects.get(cycle=october["cycle"],
                                      billing_account__organization=october["org"])
    admin = _client_for(beta, "boss", role=Role.FLEET_ADMIN)
    listed = admin.get("/api/v1/invoices?period=2020-10&status=finalized").json()["results"]
    assert len(listed) == 2
    detail = admin.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert detail["number"] == invoice.number and detail["total"] == "13392.00"
    assert len(detail["lines"]) == 2

    org_viewer = _client_for(beta, "finance", role=Role.ORG_BILLING_VIEWER,
                             organization=october["org"])
    assert [i["organization"] for i in org_viewer.get("/api/v1/invoices").json()["results"]] == [
        "mars-corp"]
    assert org_viewer.post(f"/api/v1/invoices/{invoice.pk}/void",
                           {"reason": "x"}).status_code == 403

    no_reason = admin.post(f"/api/v1/invoices/{invoice.pk}/void", {},
                           content_type="application/json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["fields"]
    voided = admin.post(f"/api/v1/invoices/{invoice.pk}/void", {"reason": "wrong team"},
                        content_type="application/json")
    assert voided.status_code == 200 and voided.json()["status"] == "void"
    again = admin.post(f"/api/v1/invoices/{invoice.pk}/void", {"reason": "again"},
                       content_type="application/json")
    assert again.status_code == 409


def test_another_providers_key_and_host_see_nothing(alpha, beta, october):
    alpha_admin = _client_for(alpha, "alice")
    assert alpha_admin.get("/api/v1/projects/adventure/billing").status_code == 404
    assert alpha_admin.get("/api/v1/invoices").json()["results"] == []
    with inside(alpha):
        secret = api_key_issue(username="alice", name="cross").secret
    response = host_client(beta).get("/api/v1/invoices", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 401
