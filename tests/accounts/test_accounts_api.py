"""The accounts API: every endpoint's status and body, each role's view, two providers."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from accounts.models import BillingContact, Organization, Project, Role, RoleGrant
from accounts.organizations import NAME_TAKEN, billing_account_create, organization_create
from accounts.projects import MOVE_SAME_ACCOUNT, project_create
from cycles.guard import CYCLE_FINALIZED
from cycles.models import BillingCycle, CycleStatus
from tests.accounts.support import Api, make_user
from tests.conftest import inside

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(beta):
    """On beta: mars (accounts Main, Research; project adventure), venus (project other)."""
    with inside(beta):
        for name in ("orgadmin", "orgviewer", "creator", "nobody", "target"):
            make_user(name)
        from django.contrib.auth import get_user_model
        users = {u.username: u for u in get_user_model().objects.all()}
        now = timezone.now()
        mars = organization_create(name="mars", display_name="Mars Corp",
                                   actor=users["orgadmin"], now=now)
        research = billing_account_create(organization=mars, name="Research",
                                          payment_kind="card", contacts=["fin@mars.example"],
                                          actor=None, now=now)
        venus = organization_create(name="venus", display_name="Venus", actor=None, now=now)
        adventure = project_create(name="adventure", organization=mars,
                                   actor=users["creator"], now=now)
        other = project_create(name="other", organization=venus, actor=None, now=now)
        RoleGrant.objects.create(user=users["orgviewer"], role=Role.ORG_BILLING_VIEWER,
                                 organization=mars)
        return {"mars": mars, "venus": venus, "research": research,
                "main": mars.billing_accounts.get(name="Main"), "adventure": adventure,
                "other": other}


def _names(response):
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["results"]]


def _error(response, status):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["status"] == status
    return error


# --- organizations ----------------------------------------------------------


def test_each_role_sees_its_organizations(beta, world):
    assert _names(Api(beta, "bob").get("/api/v1/organizations")) == ["mars", "venus"]
    assert _names(Api(beta, "orgadmin").get("/api/v1/organizations")) == ["mars"]
    assert _names(Api(beta, "orgviewer").get("/api/v1/organizations")) == ["mars"]
    assert _names(Api(beta, "creator").get("/api/v1/organizations")) == ["mars"]
    assert _names(Api(beta, "nobody").get("/api/v1/organizations")) == []


def test_organization_detail_and_404_outside_scope(beta, world):
    api = Api(beta, "orgadmin")
    response = api.get("/api/v1/organizations/mars")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "mars" and body["display_name"] == "Mars Corp"
    assert body["default_billing_account"] == {"id": world["main"].pk, "name": "Main"}
    assert body["created_at"].endswith("Z")
    assert _error(api.get("/api/v1/organizations/venus"), 404)["code"] == "not_found"
    assert _error(api.get("/api/v1/organizations/nope"), 404)["code"] == "not_found"


def test_only_fleet_admins_create_organizations(beta, world):
    body = {"name": "jupiter", "display_name": "Jupiter", "billing_account_name": "Ops"}
    _error(Api(beta, "orgadmin").post("/api/v1/organizations", body), 403)
    response = Api(beta, "bob").post("/api/v1/organizations", body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["name"] == "jupiter"
    assert created["default_billing_account"]["name"] == "Ops"
    error = _error(Api(beta, "bob").post("/api/v1/organizations", body), 400)
    assert error["fields"] == {"name": [NAME_TAKEN.format(name="jupiter")]}
    error = _error(Api(beta, "bob").post("/api/v1/organizations", {"name": "X"}), 400)
    assert set(error["fields"]) == {"display_name"}
    with inside(beta):
        assert Organization.objects.filter(name="jupiter").count() == 1


def test_an_imported_organization_and_account_keep_their_past_creation_dates(beta, world):
    body = {"name": "oldco", "display_name": "Old Co", "created_at": "2020-10-01T00:00:00Z"}
    response = Api(beta, "bob").post("/api/v1/organizations", body)
    assert response.status_code == 201, response.content
    assert response.json()["created_at"] == "2020-10-01T00:00:00Z"
    response = Api(beta, "bob").post("/api/v1/organizations/oldco/billing-accounts", {
        "name": "Lab", "created_at": "2021-03-05T12:00:00+01:00"})
    assert response.status_code == 201, response.content
    assert response.json()["created_at"] == "2021-03-05T11:00:00Z"
    with inside(beta):
        oldco = Organization.objects.get(name="oldco")
        assert oldco.created_at == datetime(2020, 10, 1, tzinfo=UTC)
        # The first account is as old as its organization.
        assert oldco.billing_accounts.get(name="Main").created_at == oldco.created_at


def test_a_creation_dated_later_than_now_or_in_a_finalized_cycle_is_refused(beta, world):
    future = {"name": "later", "display_name": "Later", "created_at": "2150-01-01T00:00:00Z"}
    error = _error(Api(beta, "bob").post("/api/v1/organizations", future), 400)
    assert list(error["fields"]) == ["created_at"]
    assert "later than now" in error["fields"]["created_at"][0]
    with inside(beta):
        BillingCycle.objects.create(start=datetime(2026, 1, 1, tzinfo=UTC),
                                    end=datetime(2026, 2, 1, tzinfo=UTC), label="2026-01",
                                    status=CycleStatus.CLOSED)
    error = _error(Api(beta, "bob").post("/api/v1/organizations/mars/billing-accounts", {
        "name": "Late", "created_at": "2026-01-15T00:00:00Z"}), 409)
    assert error["code"] == "cycle_finalized" and error["cycle"] == "2026-01"
    with inside(beta):
        assert not Organization.objects.filter(name="later").exists()
        assert not world["mars"].billing_accounts.filter(name="Late").exists()


# --- billing accounts -------------------------------------------------------


def test_billing_accounts_list_for_org_roles_and_404_for_others(beta, world):
    response = Api(beta, "orgviewer").get("/api/v1/organizations/mars/billing-accounts")
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"id": world["main"].pk, "organization": "mars", "name": "Main", "is_default": True,
         "payment_kind": "chargeback", "contacts": [],
         "created_at": response.json()["results"][0]["created_at"]},
        {"id": world["research"].pk, "organization": "mars", "name": "Research",
         "is_default": False, "payment_kind": "card",
         "contacts": [{"email": "fin@mars.example", "name": ""}],
         "created_at": response.json()["results"][1]["created_at"]},
    ]
    # A project viewer sees the organization exists, not its billing accounts.
    _error(Api(beta, "creator").get("/api/v1/organizations/mars/billing-accounts"), 404)
    _error(Api(beta, "orgadmin").get("/api/v1/organizations/venus/billing-accounts"), 404)


def test_org_admins_add_accounts_viewers_may_not(beta, world):
    path = "/api/v1/organizations/mars/billing-accounts"
    body = {"name": "Ops", "contacts": ["ops@mars.example"]}
    _error(Api(beta, "orgviewer").post(path, body), 403)
    response = Api(beta, "orgadmin").post(path, body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["name"], created["is_default"], created["payment_kind"]) == (
        "Ops", False, "chargeback")
    assert created["contacts"] == [{"email": "ops@mars.example", "name": ""}]
    error = _error(Api(beta, "orgadmin").post(path, body), 400)
    assert list(error["fields"]) == ["name"]
    error = _error(Api(beta, "orgadmin").post(path, {"name": "X", "contacts": ["nope"]}), 400)
    assert list(error["fields"]) == ["contacts"]
    _error(Api(beta, "orgadmin").post("/api/v1/organizations/venus/billing-accounts", body),
           404)


def test_set_default_and_contacts(beta, world):
    api = Api(beta, "orgadmin")
    base = f"/api/v1/organizations/mars/billing-accounts/{world['research'].pk}"
    response = api.put(f"{base}/default")
    assert response.status_code == 200 and response.json()["is_default"] is True
    assert api.get("/api/v1/organizations/mars").json()["default_billing_account"] == {
        "id": world["research"].pk, "name": "Research"}
    _error(Api(beta, "orgviewer").put(f"{base}/default"), 403)
    _error(api.put(f"/api/v1/organizations/venus/billing-accounts/{world['research'].pk}"
                   "/default"), 404)

    for _ in range(2):  # adding twice changes nothing
        response = api.post(f"{base}/contacts", {"email": "CFO@mars.example", "name": "CFO"})
        assert response.status_code == 200
        assert response.json()["contacts"] == [
            {"email": "cfo@mars.example", "name": "CFO"},
            {"email": "fin@mars.example", "name": ""}]
    assert list(_error(api.post(f"{base}/contacts", {"email": "x"}), 400)["fields"]) == ["email"]
    _error(Api(beta, "orgviewer").post(f"{base}/contacts", {"email": "a@b.example"}), 403)
    for _ in range(2):
        assert api.delete(f"{base}/contacts", {"email": "cfo@mars.example"}).status_code == 204
    with inside(beta):
        assert list(BillingContact.objects.values_list("email", flat=True)) == [
            "fin@mars.example"]


# --- projects ---------------------------------------------------------------


def test_each_role_sees_its_projects(beta, world):
    assert _names(Api(beta, "bob").get("/api/v1/projects")) == ["adventure", "other"]
    assert _names(Api(beta, "orgadmin").get("/api/v1/projects")) == ["adventure"]
    assert _names(Api(beta, "creator").get("/api/v1/projects")) == ["adventure"]
    assert _names(Api(beta, "nobody").get("/api/v1/projects")) == []
    assert _names(Api(beta, "bob").get("/api/v1/projects", organization="venus")) == ["other"]
    _error(Api(beta, "orgadmin").get("/api/v1/projects", organization="venus"), 404)


def test_project_detail_shows_where_it_bills_and_404_outside_scope(beta, world):
    response = Api(beta, "creator").get("/api/v1/projects/adventure")
    assert response.status_code == 200
    body = response.json()
    assert body["organization"] == "mars" and body["created_by"] == "creator"
    assert body["billing_account"] == {"id": world["main"].pk, "name": "Main"}
    assert [a["billing_account"]["name"] for a in body["assignments"]] == ["Main"]
    assert body["assignments"][0]["valid_to"] is None
    _error(Api(beta, "creator").get("/api/v1/projects/other"), 404)
    _error(Api(beta, "nobody").get("/api/v1/projects/adventure"), 404)


def test_org_admins_create_projects(beta, world):
    body = {"name": "rover", "organization": "mars", "billing_account": world["research"].pk}
    _error(Api(beta, "creator").post("/api/v1/projects", body), 403)
    error = _error(Api(beta, "orgadmin").post("/api/v1/projects", {**body,
                                                                   "organization": "venus"}), 400)
    assert error["fields"] == {"organization": ["no organization 'venus'"]}
    response = Api(beta, "orgadmin").post("/api/v1/projects", body)
    assert response.status_code == 201, response.content
    assert response.json()["billing_account"] == {"id": world["research"].pk,
                                                  "name": "Research"}
    assert response.json()["created_by"] == "orgadmin"
    error = _error(Api(beta, "orgadmin").post("/api/v1/projects", body), 400)
    assert list(error["fields"]) == ["name"]
    other_account = {"name": "rover-2", "organization": "mars",
                     "billing_account": world["venus"].billing_accounts.get().pk}
    error = _error(Api(beta, "orgadmin").post("/api/v1/projects", other_account), 400)
    assert list(error["fields"]) == ["billing_account"]
    with inside(beta):
        assert not Project.objects.filter(name="rover-2").exists()


def test_move_splits_and_refusals_answer_400_403_404(beta, world):
    path = "/api/v1/projects/adventure/move"
    body = {"billing_account": world["research"].pk}
    _error(Api(beta, "creator").post(path, body), 403)
    _error(Api(beta, "nobody").post(path, body), 404)
    with inside(beta):
        venus_main = world["venus"].billing_accounts.get().pk
    error = _error(Api(beta, "orgadmin").post(path, {"billing_account": venus_main}), 400)
    assert list(error["fields"]) == ["billing_account"]
    error = _error(Api(beta, "orgadmin").post(path, {"billing_account": world["main"].pk}),
                   400)
    assert error["fields"] == {"billing_account": [MOVE_SAME_ACCOUNT.format(account="Main")]}

    response = Api(beta, "orgadmin").post(path, body)
    assert response.status_code == 200, response.content
    moved = response.json()
    assert moved["billing_account"]["name"] == "Research"
    first, second = moved["assignments"]
    assert first["billing_account"]["name"] == "Main"
    assert first["valid_to"] == second["valid_from"]
    assert second["valid_to"] is None


def test_a_move_into_a_finalized_cycle_is_409_cycle_finalized(beta, world):
    with inside(beta):
        BillingCycle.objects.create(start=datetime(2026, 1, 1, tzinfo=UTC),
                                    end=datetime(2026, 2, 1, tzinfo=UTC), label="2026-01",
                                    status=CycleStatus.CLOSED)
    error = _error(Api(beta, "orgadmin").post("/api/v1/projects/adventure/move", {
        "billing_account": world["research"].pk, "effective_from": "2026-01-15T00:00:00Z"}),
        409)
    message = CYCLE_FINALIZED.format(when="2026-01-15T00:00:00+00:00", label="2026-01")
    assert error == {"status": 409, "code": "cycle_finalized", "message": message,
                     "cycle": "2026-01", "fields": {"effective_from": [message]}}


# --- grants -----------------------------------------------------------------


def test_the_creator_shares_viewing_and_the_new_viewer_sees_only_that_project(beta, world):
    path = "/api/v1/projects/adventure/viewers"
    for _ in range(2):
        response = Api(beta, "creator").post(path, {"username": "target"})
        assert response.status_code == 201, response.content
        assert response.json()["username"] == "target"
        assert response.json()["granted_by"] == "creator"
        assert response.json()["project"] == "adventure"
    listed = Api(beta, "target").get(path)
    assert [(g["username"], g["role"]) for g in listed.json()["results"]] == [
        ("creator", "project_billing_viewer"), ("target", "project_billing_viewer")]
    target = Api(beta, "target")
    assert _names(target.get("/api/v1/projects")) == ["adventure"]
    _error(target.get("/api/v1/projects/other"), 404)
    _error(target.get("/api/v1/organizations/venus"), 404)
    error = _error(Api(beta, "creator").post(path, {"username": "ghost"}), 400)
    assert list(error["fields"]) == ["username"]
    _error(Api(beta, "nobody").post(path, {"username": "nobody"}), 404)
    _error(Api(beta, "orgviewer").post(path, {"username": "nobody"}), 403)
    for _ in range(2):
        assert Api(beta, "creator").delete(path, {"username": "target"}).status_code == 204
    _error(target.get("/api/v1/projects/adventure"), 404)


def test_org_grants_by_org_admin(beta, world):
    path = "/api/v1/organizations/mars/grants"
    response = Api(beta, "orgadmin").post(path, {"username": "target", "role": "org_admin"})
    assert response.status_code == 201, response.content
    assert response.json()["organization"] == "mars"
    listed = Api(beta, "orgviewer").get(path).json()["results"]
    assert [(g["username"], g["role"]) for g in listed] == [
        ("orgadmin", "org_admin"), ("orgviewer", "org_billing_viewer"),
        ("target", "org_admin")]
    error = _error(Api(beta, "orgadmin").post(path, {"username": "target",
                                                     "role": "fleet_admin"}), 400)
    assert list(error["fields"]) == ["role"]
    _error(Api(beta, "orgviewer").post(path, {"username": "target", "role": "org_admin"}), 403)
    _error(Api(beta, "orgadmin").post("/api/v1/organizations/venus/grants",
                                      {"username": "target", "role": "org_admin"}), 404)
    _error(Api(beta, "creator").get(path), 404)
    response = Api(beta, "orgadmin").delete(path, {"username": "target", "role": "org_admin"})
    assert response.status_code == 204
    with inside(beta):
        assert not RoleGrant.objects.filter(user__username="target").exists()


# --- isolation, bounds, schema ---------------------------------------------


@pytest.mark.parametrize("path", [
    "/api/v1/organizations/mars", "/api/v1/projects/adventure",
    "/api/v1/organizations/mars/billing-accounts", "/api/v1/organizations/mars/grants",
    "/api/v1/projects/adventure/viewers",
])
def test_beta_data_is_invisible_on_alpha_and_beta_keys_are_401_there(alpha, beta, world, path):
    assert Api(beta, "bob").get(path).status_code == 200
    _error(Api(alpha, "alice").get(path), 404)
    assert _names(Api(alpha, "alice").get("/api/v1/organizations")) == []
    beta_key = Api(beta, "bob").headers
    from tests.conftest import host_client
    _error(host_client(alpha).get(path, **beta_key), 401)


@pytest.mark.parametrize("path", [
    "/api/v1/organizations", "/api/v1/projects", "/api/v1/organizations/mars/billing-accounts",
    "/api/v1/organizations/mars/grants", "/api/v1/projects/adventure/viewers",
])
def test_list_endpoints_have_bounded_queries(beta, world, path, django_assert_max_num_queries):
    api = Api(beta, "bob")
    with inside(beta):
        from django.contrib.auth import get_user_model
        mars = world["mars"]
        for i in range(15):
            organization_create(name=f"org-{i}", display_name=f"Org {i}", actor=None, now=NOW)
            billing_account_create(organization=mars, name=f"Extra {i}", payment_kind="card",
                                   contacts=[f"c{i}@mars.example"], actor=None, now=NOW)
            user = get_user_model().objects.create_user(username=f"user-{i}")
            project_create(name=f"p-{i}", organization=mars, actor=user, now=timezone.now())
            RoleGrant.objects.create(user=user, role=Role.ORG_BILLING_VIEWER, organization=mars)
            RoleGrant.objects.create(user=user, role=Role.PROJECT_BILLING_VIEWER,
                                     project=world["adventure"])
    # django-tenants sets the search path before each query; the bound counts both.
    with django_assert_max_num_queries(2 * 10) as captured:
        response = api.get(path)
    assert response.status_code == 200
    assert response.json()["count"] >= 15
    reads = [q for q in captured.captured_queries if not q["sql"].startswith("SET ")]
    assert len(reads) <= 10  # host, key, grants, scope, count, page, prefetches


def test_the_schema_documents_the_accounts_endpoints(beta):
    from tests.conftest import host_client, sign_in

    client = host_client(beta)
    assert sign_in(client, "bob")
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/v1/organizations/{org_name}/billing-accounts/{billing_account_id}/default",
                 "/api/v1/projects/{project_name}/move", "/api/v1/projects/{project_name}/viewers"):
        assert path in schema
