"""The budgets API: each role's view, status codes and bodies, validation envelopes,
alerts, preferences, bounded queries, and two-provider isolation."""

from decimal import Decimal

import pytest

from accounts.models import Role
from audit.tracking import DELETE, INSERT, UPDATE
from budgets.models import Budget, BudgetAlert, BudgetRecipient
from budgets.services import (
    AMOUNT_NOT_POSITIVE,
    AMOUNT_TOO_PRECISE,
    NAME_TAKEN,
    RECIPIENT_USER_CANNOT_SEE,
    THRESHOLD_INVALID,
    WEBHOOK_SECRET_REQUIRED,
    budget_create,
)
from notifications.selectors import invoice_email_recipients
from tests.accounts.support import Api
from tests.audit.support import actor_of, events_of
from tests.budgets.support import (
    NOW,
    grant,
    make_user,
    project_budget,
    rate_open_cycles,
    seed_world,
)
from tests.conftest import host_client, inside
from tests.factories import make_org, make_project

PROJECT_BUDGETS = "/api/v1/projects/adventure/budgets"
ORG_BUDGETS = "/api/v1/organizations/mars-corp/budgets"
BODY = {"name": "Adventure monthly", "amount": "2500.00", "thresholds": [100, 50, 80],
        "recipient_users": ["orgviewer"], "recipient_emails": ["Fin@Mars.example"]}


@pytest.fixture
def world(beta):
    with inside(beta):
        world = seed_world()
        venus = make_org("venus")
        make_project("venus-app", venus)
        world["venusadmin"] = make_user("venusadmin")
        grant(world["venusadmin"], Role.ORG_ADMIN, organization=venus)
        world["venus"] = venus
        return world


def _error(response, status):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["status"] == status
    return error


def test_a_project_viewer_creates_a_budget(beta, world, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)  # no cycle exists yet
    api = Api(beta, "projviewer")
    response = api.post(PROJECT_BUDGETS, {**BODY, "webhook_url": "https://hooks.example/b",
                                          "webhook_secret": "0123456789abcdef"})

    assert response.status_code == 201, response.content
    body = response.json()
    with inside(beta):
        budget = Budget.objects.get()
        [change] = events_of(Budget, budget.pk)
    assert body == {
        "id": budget.pk, "name": "Adventure monthly", "scope": "project",
        "organization": "mars-corp", "project": "adventure", "amount": "2500.00",
        "currency": "USD", "thresholds": [50, 80, 100], "recipient_users": ["orgviewer"],
        "recipient_emails": ["fin@mars.example"], "webhook_url": "https://hooks.example/b",
        "webhook_secret_set": True, "created_by": "projviewer",
        "created_at": body["created_at"], "updated_at": body["updated_at"],
        "current": None,  # no billing cycle contains NOW yet
    }
    assert "webhook_secret" not in body
    assert budget.webhook_secret == "0123456789abcdef" and budget.amount == Decimal("2500.00")
    assert (change.pgh_label, actor_of(change)) == (INSERT, "projviewer")


def test_json_numbers_are_read_exactly(beta, world):
    response = Api(beta, "orgadmin").client.post(
        PROJECT_BUDGETS, '{"name": "n", "amount": 2500.10, "thresholds": [50], '
        '"recipient_emails": ["a@b.example"]}', content_type="application/json",
        **Api(beta, "orgadmin").headers)
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "2500.10"


def test_the_list_shows_spend_in_the_current_cycle(beta, world, monkeypatch):
    with inside(beta):
        project_budget(world)
        rate_open_cycles(now=NOW)
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)

    response = Api(beta, "orgviewer").get(PROJECT_BUDGETS)

    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["current"] == {"period": "2020-10", "spend": "2160.00", "percent_used": "86.4",
                               "thresholds_crossed": [50, 80]}
    assert item["recipient_emails"] == ["fin@mars.example"]


def test_viewers_manage_the_budgets_they_set_and_see_the_others(beta, world):
    created = Api(beta, "projviewer").post(PROJECT_BUDGETS, BODY).json()
    path = f"{PROJECT_BUDGETS}/{created['id']}"
    orgviewer, projviewer = Api(beta, "orgviewer"), Api(beta, "projviewer")
    change = {**BODY, "name": "Tighter", "amount": "2000", "thresholds": [90],
              "recipient_users": []}

    # Another viewer of the scope sees it, and may not rewrite it (accounts/policy.py).
    assert orgviewer.get(path).json()["name"] == "Adventure monthly"
    assert _error(orgviewer.put(path, change), 403)["code"] == "permission_denied"
    assert _error(orgviewer.delete(path), 403)["code"] == "permission_denied"
    updated = projviewer.put(path, change)
    assert updated.status_code == 200, updated.content
    assert (updated.json()["name"], updated.json()["amount"], updated.json()["thresholds"],
            updated.json()["recipient_users"]) == ("Tighter", "2000.00", [90], [])
    assert projviewer.delete(path).status_code == 204
    assert _error(projviewer.get(path), 404)["code"] == "not_found"
    assert _error(projviewer.delete(path), 404)["code"] == "not_found"
    with inside(beta):
        assert [(e.pgh_label, actor_of(e)) for e in events_of(Budget, created["id"])] \
            == [(INSERT, "projviewer"), (UPDATE, "projviewer"), (DELETE, "projviewer")]
        assert not Budget.objects.exists() and not BudgetRecipient.objects.exists()


def test_organization_budgets_need_organization_billing_view(beta, world):
    body = {**BODY, "name": "Mars total", "recipient_users": ["orgadmin"]}
    created = Api(beta, "orgviewer").post(ORG_BUDGETS, body)
    assert created.status_code == 201, created.content
    assert (created.json()["scope"], created.json()["project"]) == ("organization", None)
    path = f"{ORG_BUDGETS}/{created.json()['id']}"
    assert Api(beta, "bob").get(path).status_code == 200  # fleet admin

    # A project viewer sees the project, not the organization's budgets.
    projviewer = Api(beta, "projviewer")
    assert _error(projviewer.get(ORG_BUDGETS), 404)["message"] == "no organization 'mars-corp'"
    assert _error(projviewer.post(ORG_BUDGETS, body), 404)["code"] == "not_found"
    assert _error(projviewer.get(path), 404)["code"] == "not_found"
    # An organization budget is not a project budget, and the reverse.
    assert _error(projviewer.get(f"{PROJECT_BUDGETS}/{created.json()['id']}"), 404)


def test_outside_the_scope_everything_is_404(beta, world):
    created = Api(beta, "projviewer").post(PROJECT_BUDGETS, BODY).json()
    path = f"{PROJECT_BUDGETS}/{created['id']}"
    for username in ("nobody", "venusadmin"):
        api = Api(beta, username)
        assert _error(api.get(PROJECT_BUDGETS), 404)["message"] == "no project 'adventure'"
        assert _error(api.post(PROJECT_BUDGETS, BODY), 404)
        assert _error(api.get(path), 404)
        assert _error(api.put(path, BODY), 404)
        assert _error(api.delete(path), 404)
        assert _error(api.get(f"/api/v1/budgets/{created['id']}/alerts"), 404)
        assert _error(api.get(f"/api/v1/budgets/{created['id']}/webhook-deliveries"), 404)
    with inside(beta):
        assert Budget.objects.count() == 1
    assert _error(Api(beta, "venusadmin").get(
        "/api/v1/organizations/mars-corp/budgets"), 404)
    assert host_client(beta).get(PROJECT_BUDGETS).status_code in (401, 403)


def test_invalid_budgets_answer_the_envelope_with_reasons(beta, world):
    api = Api(beta, "projviewer")
    response = api.post(PROJECT_BUDGETS, {
        "name": "x", "amount": "0", "thresholds": [0, 50],
        "recipient_users": ["nobody"], "webhook_url": "https://hooks.example/b",
    })
    error = _error(response, 400)
    assert error["code"] == "invalid"
    assert error["fields"] == {
        "amount": [AMOUNT_NOT_POSITIVE],
        "thresholds": [THRESHOLD_INVALID.format(value=0)],
        "webhook_secret": [WEBHOOK_SECRET_REQUIRED.format(n=16)],
        "recipient_users": [RECIPIENT_USER_CANNOT_SEE.format(
            username="nobody", scope="project", name="adventure")],
    }
    assert _error(api.post(PROJECT_BUDGETS, {**BODY, "amount": "10.005"}), 400)["fields"] == {
        "amount": [AMOUNT_TOO_PRECISE.format(currency="USD", places=2)]}
    assert "amount" in _error(api.post(PROJECT_BUDGETS, {**BODY, "amount": "lots"}),
                              400)["fields"]
    assert api.post(PROJECT_BUDGETS, BODY).status_code == 201
    assert _error(api.post(PROJECT_BUDGETS, BODY), 400)["fields"] == {
        "name": [NAME_TAKEN.format(scope="project", name="Adventure monthly")]}
    with inside(beta):
        assert Budget.objects.count() == 1 and Budget.pgh_event_model.objects.count() == 1


def test_a_put_without_a_secret_keeps_the_current_one(beta, world):
    api = Api(beta, "projviewer")
    hook = {"webhook_url": "https://hooks.example/b", "webhook_secret": "0123456789abcdef"}
    created = api.post(PROJECT_BUDGETS, {**BODY, **hook}).json()
    path = f"{PROJECT_BUDGETS}/{created['id']}"
    assert api.put(path, {**BODY, "webhook_url": "https://hooks.example/c"}).status_code == 200
    with inside(beta):
        budget = Budget.objects.get()
        assert (budget.webhook_url, budget.webhook_secret) == (
            "https://hooks.example/c", "0123456789abcdef")
    assert api.put(path, {**BODY, "webhook_url": ""}).json()["webhook_secret_set"] is False


def test_alerts_of_a_budget(beta, world):
    with inside(beta):
        budget = project_budget(world, users=["orgviewer"])
        rate_open_cycles(now=NOW)
    response = Api(beta, "projviewer").get(f"/api/v1/budgets/{budget.pk}/alerts")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [(a["period"], a["threshold"], a["recipient"], a["user"], a["spend"],
             a["budget_amount"], a["currency"], a["email_status"]) for a in body["results"]] == [
        ("2020-10", 50, "fin@mars.example", None, "2160.00", "2500.00", "USD", "pending"),
        ("2020-10", 50, "orgviewer@example.com", "orgviewer", "2160.00", "2500.00", "USD",
         "pending"),
        ("2020-10", 80, "fin@mars.example", None, "2160.00", "2500.00", "USD", "pending"),
        ("2020-10", 80, "orgviewer@example.com", "orgviewer", "2160.00", "2500.00", "USD",
         "pending"),
    ]
    assert body["results"][0]["created_at"] == "2020-10-11T00:00:00Z"
    empty = Api(beta, "projviewer").get(f"/api/v1/budgets/{budget.pk}/alerts",
                                        period="2020-09")
    assert empty.json()["count"] == 0


def test_webhook_deliveries_of_a_budget(beta, world):
    with inside(beta):
        budget = project_budget(world, webhook_url="https://hooks.example/b",
                                webhook_secret="0123456789abcdef")
        rate_open_cycles(now=NOW)
    body = Api(beta, "orgadmin").get(f"/api/v1/budgets/{budget.pk}/webhook-deliveries").json()
    assert [(d["period"], d["threshold"], d["status"], d["attempts"], d["url"])
            for d in body["results"]] == [
        ("2020-10", 50, "pending", 0, "https://hooks.example/b"),
        ("2020-10", 80, "pending", 0, "https://hooks.example/b"),
    ]


def test_list_endpoints_have_bounded_queries(beta, world, django_assert_max_num_queries):
    with inside(beta):
        for i in range(12):
            budget = budget_create(
                project=world["project"], name=f"b{i}", amount=Decimal("2500"),
                thresholds=[50, 80], recipient_usernames=["orgviewer", "orgadmin"],
                recipient_emails=[f"x{i}@example.com"], actor=None, now=NOW)
        rate_open_cycles(now=NOW)
        assert BudgetAlert.objects.filter(budget=budget).count() == 6
    api = Api(beta, "projviewer")
    with django_assert_max_num_queries(12):
        response = api.get(PROJECT_BUDGETS)
    assert response.json()["count"] == 12
    assert all(len(b["recipient_users"]) == 2 for b in response.json()["results"])
    with django_assert_max_num_queries(12):
        response = api.get(f"/api/v1/budgets/{budget.pk}/alerts")
    assert response.json()["count"] == 6
    with django_assert_max_num_queries(12):
        assert api.get(f"/api/v1/budgets/{budget.pk}/webhook-deliveries").status_code == 200
    with django_assert_max_num_queries(12):
        assert api.get("/api/v1/notification-preferences").status_code == 200


# --- notification preferences --------------------------------------------------------


def test_preferences_default_to_every_email_and_can_be_changed(beta, world):
    api = Api(beta, "orgviewer")
    listed = api.get("/api/v1/notification-preferences")
    assert listed.status_code == 200
    assert listed.json() == [{"scope": "organization", "organization": "mars-corp",
                              "project": None, "invoice_email": True, "budget_email": True,
                              "payment_email": True, "credit_email": True,
                              "budget_min_threshold": 0, "is_default": True}]
    path = "/api/v1/notification-preferences/organizations/mars-corp"

    changed = api.put(path, {"invoice_email": False})
    assert changed.status_code == 200, changed.content
    assert changed.json() == {"scope": "organization", "organization": "mars-corp",
                              "project": None, "invoice_email": False, "budget_email": True,
                              "payment_email": True, "credit_email": True,
                              "budget_min_threshold": 0, "is_default": False}
    assert api.put(path, {"invoice_email": False}).json() == changed.json()  # twice: same
    assert api.get(path).json()["invoice_email"] is False

    project_path = "/api/v1/notification-preferences/projects/adventure"
    assert api.put(project_path, {"budget_email": False}).json() == {
        "scope": "project", "organization": "mars-corp", "project": "adventure",
        "invoice_email": True, "budget_email": False, "payment_email": True,
        "credit_email": True, "budget_min_threshold": 0, "is_default": False}
    # Budget emails only from a threshold on; out of range is refused with its field.
    assert api.put(project_path, {"budget_min_threshold": 80}).json()[
        "budget_min_threshold"] == 80
    assert _error(api.put(project_path, {"budget_min_threshold": -1}), 400)
    assert [(p["scope"], p["project"]) for p in
            api.get("/api/v1/notification-preferences").json()] == [
        ("organization", None), ("project", "adventure")]
    # Another user's preferences are their own.
    assert Api(beta, "orgadmin").get(path).json()["invoice_email"] is True


def test_preferences_outside_the_scope_are_404(beta, world):
    projviewer = Api(beta, "projviewer")
    assert _error(projviewer.get(
        "/api/v1/notification-preferences/organizations/mars-corp"), 404)
    assert _error(projviewer.put(
        "/api/v1/notification-preferences/organizations/mars-corp", {"invoice_email": False}),
        404)
    assert projviewer.get("/api/v1/notification-preferences/projects/adventure").json()[
        "budget_email"] is True
    assert _error(Api(beta, "venusadmin").put(
        "/api/v1/notification-preferences/projects/adventure", {"budget_email": False}), 404)
    assert _error(projviewer.put("/api/v1/notification-preferences/projects/adventure",
                                 {"budget_email": "maybe"}), 400)["fields"]["budget_email"]


def test_invoice_email_recipients_are_contacts_and_org_billing_users_who_opted_in(beta, world):
    with inside(beta):
        account = world["org"].billing_accounts.get(is_default=True)
        account.contacts.create(email="AP@Mars.example")
        account.contacts.create(email="orgadmin@example.com")  # also an org admin: once
        grant(make_user("inactive"), Role.ORG_ADMIN, organization=world["org"])
        from django.contrib.auth import get_user_model
        get_user_model().objects.filter(username="inactive").update(is_active=False)
        assert invoice_email_recipients(account) == [
            "ap@mars.example", "orgadmin@example.com", "orgviewer@example.com"]
    Api(beta, "orgviewer").put("/api/v1/notification-preferences/organizations/mars-corp",
                               {"invoice_email": False})
    with inside(beta):
        assert invoice_email_recipients(account) == ["ap@mars.example",
                                                     "orgadmin@example.com"]


# --- two providers -------------------------------------------------------------------


def test_a_budget_on_beta_is_invisible_from_alpha(beta, alpha, world):
    created = Api(beta, "projviewer").post(PROJECT_BUDGETS, BODY).json()
    with inside(alpha):
        make_org("mars-corp")  # same names on alpha, different data
    alice = Api(alpha, "alice")  # alpha's fleet admin
    assert alice.get("/api/v1/organizations/mars-corp/budgets").json()["count"] == 0
    assert _error(alice.get(PROJECT_BUDGETS), 404)
    assert _error(alice.get(f"/api/v1/budgets/{created['id']}/alerts"), 404)
    assert _error(alice.get(f"/api/v1/organizations/mars-corp/budgets/{created['id']}"), 404)

    beta_key = Api(beta, "bob")
    on_alpha = host_client(alpha).get(PROJECT_BUDGETS, **beta_key.headers)
    assert _error(on_alpha, 401)
    on_alpha = host_client(alpha).get("/api/v1/notification-preferences", **beta_key.headers)
    assert _error(on_alpha, 401)
    with inside(alpha):
        assert not Budget.objects.exists()


def test_amounts_are_in_the_providers_currency(alpha):
    with inside(alpha):
        world = seed_world()
    response = Api(alpha, "projviewer").post(PROJECT_BUDGETS, {**BODY, "amount": "99.5"})
    assert response.status_code == 201, response.content
    assert (response.json()["amount"], response.json()["currency"]) == ("99.50", "EUR")
    with inside(alpha):
        assert Budget.objects.get().project == world["project"]


def test_the_schema_lists_the_budget_endpoints(alpha):
    paths = host_client(alpha).get("/api/schema/", HTTP_ACCEPT="application/json").json()[
        "paths"]
    for path in ("/api/v1/projects/{project_name}/budgets",
                 "/api/v1/projects/{project_name}/budgets/{budget_id}",
                 "/api/v1/organizations/{org_name}/budgets",
                 "/api/v1/organizations/{org_name}/budgets/{budget_id}",
                 "/api/v1/budgets/{budget_id}/alerts",
                 "/api/v1/budgets/{budget_id}/webhook-deliveries",
                 "/api/v1/notification-preferences",
                 "/api/v1/notification-preferences/organizations/{org_name}",
                 "/api/v1/notification-preferences/projects/{project_name}"):
        assert path in paths, path
    assert set(paths["/api/v1/projects/{project_name}/budgets/{budget_id}"]) >= {
        "get", "put", "delete"}
