"""The API as its OpenAPI schema describes it, and a provider with one of everything its
paths name: what the gate, policy and schemathesis tests walk over.

The operations come from the schema (drf-spectacular, generated once per test run),
never from a list kept by hand, so an endpoint added tomorrow is walked too.
"""

import json
from decimal import Decimal
from functools import cache

from django.db import connection, transaction
from drf_spectacular.generators import SchemaGenerator

from accounts.api_keys import api_key_issue
from accounts.models import Role
from budgets.services import budget_create
from catalog.models import Aggregation, Metric
from invoicing.credits import credit_create
from invoicing.models import Invoice
from metering.models import Resource
from tenancy.middleware import provider_cache_clear
from tenancy.models import Provider
from tests.budgets.support import grant, make_user, project_budget, rate_open_cycles, seed_world
from tests.conftest import host_client, inside
from tests.invoicing.builders import at

METHODS = ("get", "post", "put", "patch", "delete")


@cache
def api_schema() -> dict:
    """The schema as /api/schema/ serves it (JSON types only: a plain dict)."""
    schema = SchemaGenerator(urlconf="billing.urls").get_schema(request=None, public=True)
    return json.loads(json.dumps(schema, default=str))


def operations() -> list[tuple[str, str, dict]]:
    """(method, path, operation) for every operation of the schema."""
    return [(method, path, op) for path, item in api_schema()["paths"].items()
            for method, op in item.items() if method in METHODS]


def resolve(node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = api_schema()["components"]["schemas"][name]
    if "allOf" in node and len(node["allOf"]) == 1:
        return resolve(node["allOf"][0])
    return node


def json_body_schema(op: dict) -> dict | None:
    content = op.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    return resolve(media["schema"]) if media else None


def body_properties(op: dict) -> dict[str, dict]:
    body = json_body_schema(op)
    if not body:
        return {}
    return {name: resolve(prop) for name, prop in body.get("properties", {}).items()
            if not prop.get("readOnly")}


def batch_item_properties(op: dict) -> dict[str, dict] | None:
    """A batch's item fields, if the body is `{"events": [item, ...]}`."""
    events = body_properties(op).get("events")
    if not events or events.get("type") != "array":
        return None
    return {name: resolve(prop) for name, prop in
            resolve(events["items"]).get("properties", {}).items()}


def example_body(op: dict):
    media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    for example in (media.get("examples") or {}).values():
        return example["value"]
    return None


def query_parameters(op: dict) -> list[dict]:
    return [p for p in op.get("parameters", []) if p["in"] == "query"]


class World:
    """Alpha with the seed's mars-corp / adventure, priced and rated, a budget, a credit,
    users of every role and an API key each."""

    def __init__(self, provider):
        self.provider = provider
        self._reachable: dict[tuple[str, str], bool] = {}
        # The walks send thousands of requests a minute with one key: no rate limit
        # (tests/accounts/test_limits.py tests the limits).
        Provider.objects.filter(pk=provider.pk).update(
            api_rate_ingest=0, api_rate_read=0, api_rate_write=0)
        provider_cache_clear()
        with inside(provider):
            seeded = seed_world()
            self.org, self.project = seeded["org"], seeded["project"]
            self.users = {name: seeded[name] for name in
                          ("orgadmin", "orgviewer", "projviewer", "nobody")}
            self.users["fleetviewer"] = make_user("fleetviewer")
            grant(self.users["fleetviewer"], Role.FLEET_VIEWER)
            self.budget = project_budget(seeded)
            self.org_budget = budget_create(
                organization=self.org, name="Mars monthly", amount=Decimal("9000"),
                thresholds=[80], recipient_usernames=[], recipient_emails=["fin@mars.example"],
                actor=seeded["orgadmin"], now=at(2020, 10, 1))
            Metric.objects.create(key="requests", name="Requests",
                                  aggregation=Aggregation.SUM)
            rate_open_cycles(now=at(2020, 10, 11))
            self.credit = credit_create(
                name="Outage", description="Mars was down", window_start=at(2020, 10, 1),
                window_end=at(2020, 10, 2), organization=self.org, region="",
                metric_key="", actor=None, now=at(2020, 10, 11))
            self.keys = {name: api_key_issue(username=name, name="api-world").secret
                         for name in ("alice", *self.users)}
            self.path_values = {
                "org_name": self.org.name, "project_name": self.project.name,
                "billing_account_id": self.project.organization.billing_accounts.first().pk,
                "budget_id": self.budget.pk,
                "invoice_id": (Invoice.objects.first() or Invoice(pk=999999)).pk,
                "credit_id": self.credit.pk, "resource_type": "instance",
                "resource_id": Resource.objects.first().resource_id,
                "entitlement_id": 999999, "offer_key": "pro",
            }

    def reachable(self, method: str, path: str) -> bool:
        """False if the path names no object in this world (404 to an empty body)."""
        key = (method, path)
        if key not in self._reachable:
            body = {} if method in ("post", "put", "patch") else None
            with inside(self.provider), transaction.atomic():
                self._reachable[key] = self.call(method, self.url(path), body=body
                                                 ).status_code != 404
                transaction.set_rollback(True)
        return self._reachable[key]

    def url(self, path: str, **overrides) -> str:
        values = {**self.path_values, **overrides}
        if path.startswith("/api/v1/organizations/") and "budget_id" not in overrides:
            values["budget_id"] = self.org_budget.pk
        for name, value in values.items():
            path = path.replace("{" + name + "}", str(value))
        return path

    def call(self, method: str, path: str, *, user: str = "alice", body=None,
             query: str = "", content_type: str = "application/json"):
        client = host_client(self.provider)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.keys[user]}"}
        url = f"{path}?{query}" if query else path
        if body is None:
            return getattr(client, method)(url, **headers)
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return getattr(client, method)(url, data=data, content_type=content_type, **headers)


def stored_rows() -> dict[str, int]:
    """Rows in every table of the current schema (the provider's), in one query."""
    tables = [t for t in connection.introspection.table_names() if not t.startswith("pg")]
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(cursor.fetchall())
