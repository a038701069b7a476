"""Spend per user: creators sent with lifecycle events, validated, carried onto the
lines, and summed per user to the cent, in the scope each role may see."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from accounts.api_keys import api_key_issue
from accounts.models import Role, RoleGrant
from invoicing.models import Invoice, InvoiceLine
from metering.lifecycle_items import ERR_FOREIGN_USER, ERR_UNKNOWN_USER
from metering.models import Resource
from tests.conftest import host_client, inside
from tests.invoicing.spend_users_world import build_users_world, lifecycle_item

OCT = "period=2020-10"
USERS = "/api/v1/billing/spend-by-user"
LINES = "/api/v1/billing/spend-by-user/lines"


@pytest.fixture
def world(beta):
    with inside(beta):
        return build_users_world()


def _api(provider, username: str, role=None, **scope):
    with inside(provider):
        account, _ = get_user_model().objects.get_or_create(username=username)
        if role:
            RoleGrant.objects.create(user=account, role=role, **scope)
        secret = api_key_issue(username=username, name="test").secret
    client = host_client(provider)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def _amounts(body) -> dict:
    rows = {row["user"]: Decimal(row["amount"]) for row in body["users"]}
    rows[None] = Decimal(body["not_attributed"]["amount"])
    return rows


def test_creators_are_stored_and_each_line_holds_one_creators_resources(beta, world):
    with inside(beta):
        creators = dict(Resource.objects.values_list("resource_id", "created_by__username"))
        assert creators["i-alice-1"] == "alice" and creators["d-tel"] is None
        lines = InvoiceLine.objects.filter(invoice__cycle=world["october"],
                                           kind="usage", metric_key="instance",
                                           project__name="adventure")
        # alice's two instances, bram's and the one of no creator: three lines.
        assert sorted((line.created_by_name, line.resource_count) for line in lines) == [
            ("", 1), ("alice", 2), ("bram", 1)]


def test_org_admin_sees_every_user_of_the_org_adding_up_to_the_invoices_to_the_cent(
        beta, world):
    body = _api(beta, "carol").get(f"{USERS}?{OCT}&organization=mars-corp").json()
    with inside(beta):
        invoices = Invoice.objects.filter(cycle=world["october"],
                                          billing_account__organization=world["mars"])
        invoiced = sum(i.total for i in invoices)
    amounts = _amounts(body)
    assert set(amounts) == {"alice", "bram", None}
    assert sum(amounts.values()) == Decimal(body["total"]) == invoiced
    assert amounts[None] < 0 or amounts[None] > 0  # the credit and i-nobody/d-tel
    # The amounts are whole lines: alice's is the sum of her lines' printed amounts.
    lines = _api(beta, "carol").get(f"{LINES}?{OCT}&user=alice").json()["results"]
    assert sum(Decimal(line["amount"]) for line in lines) == amounts["alice"]
    for line in lines:
        assert line["project"] == "adventure"
        assert Decimal(line["quantity"]) * Decimal(line["rate"]) == pytest.approx(
            Decimal(line["amount"]), abs=Decimal("0.005"))
    loose = _api(beta, "carol").get(f"{LINES}?{OCT}").json()["results"]
    assert {line["kind"] for line in loose} == {"usage", "credit"}
    assert sum(Decimal(line["amount"]) for line in loose) == amounts[None]


def test_a_project_viewer_sees_only_their_projects_users(beta, world):
    alice = _api(beta, "alice")
    body = alice.get(f"{USERS}?{OCT}").json()
    with inside(beta):
        adventure = sum(InvoiceLine.objects.filter(
            invoice__cycle=world["october"], project=world["adventure"]
        ).values_list("amount", flat=True))
        bram_telescope = InvoiceLine.objects.get(
            invoice__cycle=world["october"], project=world["telescope"],
            created_by__username="bram").amount
    amounts = _amounts(body)
    assert sum(amounts.values()) == Decimal(body["total"]) == adventure
    # bram's spend as alice sees it is his adventure instance only, not telescope's.
    bram_lines = alice.get(f"{LINES}?{OCT}&user=bram").json()["results"]
    assert {line["project"] for line in bram_lines} == {"adventure"}
    assert amounts["bram"] == sum(Decimal(line["amount"]) for line in bram_lines)
    assert bram_telescope not in [Decimal(line["amount"]) for line in bram_lines]
    assert alice.get(f"{USERS}?{OCT}&project=telescope").status_code == 404
    assert alice.get(f"{USERS}?{OCT}&organization=venus-corp").status_code == 404
    assert alice.get(f"{LINES}?{OCT}&user=vera").json()["results"] == []


def test_other_organizations_and_providers_never_leak(alpha, beta, world):
    vera = _api(beta, "vera").get(f"{USERS}?{OCT}").json()
    assert set(_amounts(vera)) == {"vera", None}
    assert _amounts(vera)[None] == 0
    assert _api(beta, "vera").get(f"{USERS}?{OCT}&organization=mars-corp").status_code == 404
    fleet = _api(beta, "ops").get(f"{USERS}?{OCT}").json()
    assert set(_amounts(fleet)) == {"alice", "bram", "vera", None}
    with inside(beta):
        assert Decimal(fleet["total"]) == sum(
            Invoice.objects.filter(cycle=world["october"]).values_list("total", flat=True))
    # Another provider: its own fleet viewer sees none of beta's users.
    other = _api(alpha, "ops-alpha", Role.FLEET_VIEWER).get(f"{USERS}").json()
    assert other.get("users", []) == []


def _ingest(provider, items):
    client = _api(provider, "chief-ingest", Role.FLEET_ADMIN)
    response = client.post("/api/v1/resources/events", {"events": items},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["items"]


def test_an_unknown_or_foreign_creator_is_refused_with_a_field_reason(beta, world):
    unknown = lifecycle_item("i-x", "instance", "4cpu-16gb", "adventure", "mallory", 5, None)
    foreign = lifecycle_item("i-y", "instance", "4cpu-16gb", "adventure", "vera", 5, None)
    changed = {**lifecycle_item("i-alice-1", "instance", "4cpu-16gb", "adventure", "bram",
                                9000, None), "event_id": "evt-stop", "kind": "stopped"}
    items = _ingest(beta, [unknown, foreign, changed])
    assert [item["status"] for item in items] == ["refused"] * 3
    assert items[0]["fields"] == {"created_by": [ERR_UNKNOWN_USER.format(name="mallory")]}
    assert items[1]["fields"] == {"created_by": [ERR_FOREIGN_USER.format(
        name="vera", organization="mars-corp")]}
    assert "never changes its creator" in items[2]["reason"]
    with inside(beta):
        assert not Resource.objects.filter(resource_id__in=["i-x", "i-y"]).exists()
    detail = _api(beta, "carol").get("/api/v1/resources/i-alice-1").json()
    assert detail["created_by"] == "alice"
