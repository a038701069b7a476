"""Unused quota: allocated, used and unused capacity, priced per day and per month."""

from decimal import Decimal

from django.utils import timezone

from accounts.capacity import project_quota_set
from accounts.models import Role
from invoicing.capacity import unused_quota
from metering.models import LifecycleKind
from tests.conftest import inside
from tests.factories import make_org, make_price, make_project
from tests.invoicing.builders import add_event, at, run_resource, seed_catalog
from tests.invoicing.test_billing_api import _client_for


def _half_idle(provider):
    """adventure has 16 instances of 4cpu-16gb (64 vCPUs) allocated; 8 run, 1 stopped."""
    instance, _ = seed_catalog()
    make_price(instance, "0.10", "minute", variant="4cpu-16gb")
    org = make_org("mars-corp")
    project = make_project("adventure", org)
    for i in range(9):
        vm = run_resource(f"i-{i}", instance, "4cpu-16gb", project, since=at(2026, 1, 1))
    add_event(vm, LifecycleKind.STOPPED, at(2026, 1, 2))
    project_quota_set(project=project, resource_type="instance", variant="4cpu-16gb",
                      region="mars", allocated=16, actor=None, now=timezone.now())
    return org, project


def test_a_project_with_half_its_vcpus_idle(beta):
    with inside(beta):
        _, project = _half_idle(beta)
        now = timezone.now()
        report = unused_quota(projects=[project], now=now)
    (item,) = report.items
    assert (item.allocated, item.used, item.unused) == (16, 8, 8)
    # 8 idle instances x $0.10 per minute x 1440 minutes.
    assert item.cost_per_day == Decimal("1152.00")
    cycle_days = {28: "32256.00", 29: "33408.00", 30: "34560.00", 31: "35712.00"}
    import calendar

    days = calendar.monthrange(now.year, now.month)[1]
    assert item.cost_per_month == Decimal(cycle_days[days])
    assert report.cost_per_day == Decimal("1152.00")


def test_unused_quota_over_the_api_with_roles(beta):
    with inside(beta):
        org, project = _half_idle(beta)
        other = make_project("hidden", make_org("venus-corp"))
    viewer = _client_for(beta, "dev", role=Role.PROJECT_BILLING_VIEWER, project=project)
    response = viewer.get("/api/v1/projects/adventure/unused-quota")
    assert response.status_code == 200
    body = response.json()
    assert body["currency"] == "USD" and body["cost_per_day"] == "1152.00"
    assert body["items"][0]["unused"] == 8 and body["items"][0]["rate"] == "0.1"
    assert viewer.get(f"/api/v1/projects/{other.name}/unused-quota").status_code == 404
    assert viewer.get("/api/v1/organizations/mars-corp/unused-quota").status_code == 404
    assert viewer.put("/api/v1/projects/adventure/quotas", {}, content_type="application/json"
                      ).status_code == 403

    admin = _client_for(beta, "boss", role=Role.FLEET_ADMIN)
    org_report = admin.get("/api/v1/organizations/mars-corp/unused-quota").json()
    assert org_report["cost_per_day"] == "1152.00"
    updated = admin.put("/api/v1/projects/adventure/quotas", {
        "resource_type": "instance", "variant": "4cpu-16gb", "region": "mars", "allocated": 8,
    }, content_type="application/json")
    assert updated.status_code == 200 and updated.json()["cost_per_day"] == "0.00"
    bad = admin.put("/api/v1/projects/adventure/quotas", {
        "resource_type": "instance", "variant": "99cpu", "region": "mars", "allocated": 8,
    }, content_type="application/json")
    assert bad.status_code == 400 and "variant" in bad.json()["error"]["fields"]
