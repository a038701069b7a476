"""The must-show: both demo providers built from nothing through the API only, with an
`admin`-scoped key, bill a month to the same totals as the demo loader.

Four sandbox providers, their clocks frozen at one instant: two loaded by the demo loader
(`billing.demo`, which calls the services directly), two empty ones the test fills through
HTTP: the catalog (resource types, regions, prices, services, features, metrics, offers),
organizations, billing accounts, projects, entitlements, then the same lifecycle and usage
events. Both run the same rating job (beat's). Every invoice, finalized last month and
draft this month, must come out with the same total and lines.
"""

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from accounts.api_keys import api_key_issue
from accounts.models import ApiKeyScope
from accounts.onboarding import provider_onboard
from billing import demo
from billing.demo_people import CHARGEBACK_PEOPLE
from cycles.selectors import month_label
from cycles.services import billing_start_set
from invoicing.jobs import close_due_cycles, rate_open_cycles
from invoicing.models import Invoice
from tenancy.models import BillingMode
from tests.conftest import PASSWORD, host_client, inside

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HISTORY = datetime(2026, 10, 1, tzinfo=UTC)  # the month before NOW's: the demo's history


class AdminKey:
    """HTTP on the provider's host with an `admin`-scoped key of its fleet admin."""

    def __init__(self, provider):
        with inside(provider):
            secret = api_key_issue(username="operator", name="terraform",
                                   scope=ApiKeyScope.ADMIN).secret
        self.client = host_client(provider)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def call(self, method: str, path: str, body=None, status: int | tuple = 200):
        response = self.client.generic(method, f"/api/v1/{path}",
                                       _json(body) if body is not None else "",
                                       content_type="application/json", **self.headers)
        wanted = status if isinstance(status, tuple) else (status,)
        assert response.status_code in wanted, (method, path, response.content[:800])
        return response.json() if response.content else None


def _json(body) -> str:
    import json

    return json.dumps(body, default=str)


def _sandbox(slug: str, mode: str = BillingMode.CHARGEBACK):
    return provider_onboard(name=slug.title(), slug=slug, admin_username="operator",
                            admin_password=PASSWORD, billing_mode=mode, sandbox=True,
                            clock_frozen_at=NOW).provider


def _invoices(provider) -> list[tuple]:
    """Every invoice as (organization, account, cycle, status, total, [(line, amount)])."""
    with inside(provider):
        rows = Invoice.objects.select_related("billing_account__organization", "cycle")
        return sorted(
            (i.billing_account.organization.name, i.billing_account.name, i.cycle.label,
             i.status, i.total,
             sorted((line.description, line.project_name, line.quantity, line.amount)
                    for line in i.lines.all()))
            for i in rows.prefetch_related("lines"))


def _rate(provider) -> None:
    """Beat's work at NOW: close what is due, rate what is open (the demo loader does it)."""
    with inside(provider):
        close_due_cycles(now=NOW)
        rate_open_cycles(now=NOW)


def _ingest(api: AdminKey, path: str, items: list[dict]) -> None:
    for start in range(0, len(items), 5000):
        batch = items[start:start + 5000]
        body = api.call("POST", path, {"events": batch})
        assert body["accepted"] == len(batch), [i for i in body.get("items", [])
                                                if i.get("outcome") != "accepted"][:3]


# --- the chargeback demo ---------------------------------------------------------------


def _chargeback_through_api(api: AdminKey) -> None:
    for key, name, unit, variants in demo.RESOURCE_TYPES:
        api.call("POST", "catalog/resource-types", {
            "key": key, "name": name, "unit": unit,
            "variants": [{"key": k, "description": d} for k, d in variants]}, status=201)
    for key, name in (("mars", "Mars"), ("venus", "Venus")):
        api.call("POST", "catalog/regions", {"key": key, "name": name}, status=201)
    for rtype, variant, region, service_class, rate, unit in demo.PRICES:
        api.call("PUT", f"system/billing/{rtype}", {
            "variant": variant or None, "region": region or None,
            "service_class": service_class or None, "rate": rate, "unit": unit,
            "effective_from": HISTORY.isoformat()})
    for month in (HISTORY, NOW):
        # 201 when it made the cycle, 200 when a dated write made it already.
        api.call("POST", "cycles", {"month": month.strftime("%Y-%m")}, status=(200, 201))
    mars = api.call("POST", "organizations", {"name": "mars-corp", "display_name": "Mars Corp"},
                    status=201)
    main = mars["default_billing_account"]["id"]
    api.call("POST", f"organizations/mars-corp/billing-accounts/{main}/contacts",
             {"email": "finance@mars.example", "name": "Mars Finance"}, status=(200, 201))
    research = api.call("POST", "organizations/mars-corp/billing-accounts", {
        "name": "Research", "contacts": ["research-finance@mars.example"]}, status=201)
    api.call("POST", "organizations", {"name": "venus-labs", "display_name": "Venus Labs"},
             status=201)
    for name, org, account in (("adventure", "mars-corp", None),
                               ("telescope", "mars-corp", research["id"]),
                               ("discovery", "mars-corp", None),
                               ("greenhouse", "venus-labs", None)):
        api.call("POST", "projects", {"name": name, "organization": org,
                                      "billing_account": account,
                                      "billing_from": HISTORY.isoformat()}, status=201)
    # The people who created the resources, as the loader makes them (billing/demo_people).
    for org, people in CHARGEBACK_PEOPLE.items():
        for username, full_name, role, project in people:
            first, _, last = full_name.partition(" ")
            api.call("POST", "users", {"username": username, "first_name": first,
                                       "last_name": last,
                                       "email": f"{username}@{org}.example"}, status=201)
            scope = {"project": project} if project else {"organization": org}
            api.call("POST", f"users/{username}/roles", {"role": role, **scope},
                     status=(200, 201))
    events = demo._chargeback_events(start=HISTORY + timedelta(hours=1), now=NOW,
                                     consumer=None)
    _ingest(api, "resources/events", demo._happened(events.items, now=NOW))


def test_the_chargeback_demo_built_through_the_api_bills_what_the_loader_bills(db):
    loaded = _sandbox("ref-cb")
    with inside(loaded):
        assert demo.demo_chargeback_load(now=NOW) is not None
    built = _sandbox("api-cb")
    with inside(built):
        billing_start_set(month=month_label(HISTORY))
    _chargeback_through_api(AdminKey(built))
    _rate(built)

    expected, got = _invoices(loaded), _invoices(built)
    assert [i[:5] for i in got] == [i[:5] for i in expected]
    assert got == expected
    assert {i[3] for i in got} == {"finalized", "draft"}
    assert sum(i[4] for i in got) > Decimal(100_000)


# --- the consumer demo (Datum) -------------------------------------------------------


def _offer_body(key: str, name: str, public: bool, content) -> dict:
    body = asdict(content)
    return {"key": key, "name": name, "public": public, **body}


def _datum_catalog_through_api(api: AdminKey) -> None:
    for key, name, description in (("dns", "DNS", "Authoritative DNS"),
                                   ("compute", "Compute", "Virtual machines")):
        api.call("POST", "catalog/services", {"key": key, "name": name,
                                              "description": description}, status=201)
    for feature in (
        {"service": "dns", "key": "dns.zones", "name": "DNS zones", "kind": "quota",
         "default_limit": "3", "unit": "zone"},
        {"service": "dns", "key": "dns.dnssec", "name": "DNSSEC", "kind": "flag"},
        {"service": "compute", "key": "compute.vcpus", "name": "vCPUs", "kind": "quota",
         "default_limit": "4", "scope": "project", "unit": "vCPU"},
    ):
        api.call("POST", "catalog/features", feature, status=201)
    api.call("POST", "catalog/metrics", {"key": "dns.queries", "name": "DNS queries",
                                         "aggregation": "sum", "service": "dns",
                                         "unit": "query"}, status=201)
    api.call("POST", "catalog/metrics", {"key": "dns.zones-hosted", "name": "Hosted zones",
                                         "aggregation": "unique_count", "service": "dns",
                                         "unique_attribute": "zone", "unit": "zone"},
             status=201)
    api.call("POST", "catalog/resource-types", {
        "key": "instance", "name": "Instance", "unit": "instance", "service": "compute",
        "variants": [{"key": "2cpu-8gb", "description": "2 CPU, 8 GB Memory"},
                     {"key": "4cpu-16gb", "description": "4 CPU, 16 GB Memory"}]}, status=201)
    api.call("POST", "catalog/regions", {"key": "us-east", "name": "US East"}, status=201)
    for key, name, public, content in demo.DATUM_OFFERS:
        api.call("POST", "offers", _offer_body(key, name, public, content), status=201)


def _datum_consumers_through_api(api: AdminKey) -> None:
    for month in (HISTORY, NOW):
        # 201 when it made the cycle, 200 when a dated write made it already.
        api.call("POST", "cycles", {"month": month.strftime("%Y-%m")}, status=(200, 201))
    accepted = HISTORY + 3 * demo.DAY
    lifecycle = demo._Events()
    usage: list[dict] = []
    for name, offer, queries, zones, instances in demo.DATUM_CONSUMERS:
        api.call("POST", "organizations", {"name": name, "display_name": name.title(),
                                           "billing_account_name": None}, status=201)
        account = api.call("POST", f"organizations/{name}/billing-accounts", {
            "name": "Main", "payment_kind": "card",
            "contacts": [f"billing@{name}.example"]}, status=201)
        api.call("POST", "projects", {"name": f"{name}-web", "organization": name,
                                      "billing_from": HISTORY.isoformat()}, status=201)
        api.call("POST", f"billing-accounts/{account['id']}/entitlements",
                 {"offer": offer, "accepted_at": accepted.isoformat()}, status=201)
        usage += demo._datum_daily_usage(name=name, project=f"{name}-web", queries=queries,
                                         zones=zones, since=HISTORY + demo.DAY,
                                         until=NOW - timedelta(hours=1))
        for i in range(instances):
            lifecycle.resource(f"{name}-vm-{i}", "instance",
                               "4cpu-16gb" if i % 2 else "2cpu-8gb", f"{name}-web", "us-east",
                               at=accepted + timedelta(hours=i))
    _ingest(api, "resources/events", demo._happened(lifecycle.items, now=NOW))
    _ingest(api, "usage/events", usage)


def test_the_offers_demo_built_through_the_api_bills_what_the_loader_bills(db):
    loaded = _sandbox("ref-datum", BillingMode.OFFERS)
    with inside(loaded):
        assert demo.demo_consumer_load(now=NOW) is not None
    built = _sandbox("api-datum", BillingMode.OFFERS)
    with inside(built):
        billing_start_set(month=month_label(HISTORY))
    api = AdminKey(built)
    _datum_catalog_through_api(api)
    _datum_consumers_through_api(api)
    _rate(built)

    expected, got = _invoices(loaded), _invoices(built)
    assert [i[:5] for i in got] == [i[:5] for i in expected]
    assert got == expected
    described = " ".join(line[0] for invoice in got for line in invoice[5])
    assert all(fee in described for fee in ("Pro plan", "Onboarding", "Enterprise plan"))
    # The unique count billed: the startup's hosted zones (18 distinct zone names).
    startup = next(i for i in got if i[0] == "startup" and i[3] == "finalized")
    assert any(line[0].startswith("Hosted zones") for line in startup[5])
