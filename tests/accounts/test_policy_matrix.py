"""Issue 19: the one policy table (accounts/policy.py), run as a matrix over every
operation of the OpenAPI schema and every role: what the table refuses answers 403 or
404, what it grants everywhere (ALL) is never refused, and budgets (with their alerts)
follow it per budget: viewers change only the budgets they set, an organization's
admins the organization's, fleet admins all. The admin site asks the same table."""

import pytest
from django.db import transaction

from accounts.access import access_for
from accounts.policy import (
    ALL,
    BUDGET,
    POLICY,
    SIGNED_IN,
    VIEW,
    Target,
    operation_action,
    operation_object,
    policy_allows,
    reach,
)
from budgets.models import Budget
from budgets.services import budget_create
from tests.billing.api_world import World, operations
from tests.conftest import host_client, inside, sign_in
from tests.invoicing.builders import at

ACTION_OF = {"get": "view", "post": "add", "put": "change", "patch": "change",
             "delete": "delete"}
USERS = ("alice", "fleetviewer", "orgadmin", "orgviewer", "projviewer", "nobody")


def object_of(path: str, op: dict) -> str:
    """The table's object an operation acts on, from its path and its schema tag."""
    return operation_object(path, op["tags"][0])


@pytest.fixture
def world(alpha):
    world = World(alpha)
    with inside(alpha):
        # The issue's case: a project budget the org admin set, seen by the project's
        # viewer, who may not rewrite it.
        world.admins_project_budget = budget_create(
            project=world.project, name="Set by the org admin", amount=100, thresholds=[90],
            recipient_usernames=[], recipient_emails=["fin@mars.example"],
            actor=world.users["orgadmin"], now=at(2020, 10, 1))
        world.access = {name: access_for(user) for name, user in world.users.items()}
        world.access["alice"] = access_for(
            type(world.users["nobody"]).objects.get(username="alice"))
    return world


def answer(world: World, method: str, path: str, user: str, body=None) -> int:
    """The status `user` gets, with whatever the call wrote rolled back."""
    return respond(world, method, path, user, body).status_code


def respond(world: World, method: str, path: str, user: str, body=None):
    with inside(world.provider), transaction.atomic():
        response = world.call(method, path, user=user, body=body)
        transaction.set_rollback(True)
    return response


def shows_nothing(response) -> bool:
    """A read answered with nothing in it: an empty list or page."""
    if response.status_code != 200 or response.get("Content-Type") != "application/json":
        return False
    data = response.json()
    return data == [] or (isinstance(data, dict) and data.get("results") == [])


def test_the_table_holds_on_every_operation_for_every_role(world):
    failures = []
    for method, path, op in operations():
        if {} in op.get("security", []):
            continue  # a webhook: its signature is its authorization
        obj, action = object_of(path, op), operation_action(path, method)
        url = world.url(path)
        if not world.reachable(method, path):
            continue
        for user in USERS:
            access = world.access[user]
            roles = [role for role in POLICY if _holds(access, role)]
            reaches = {reach(role, obj, action) for role in roles} - {None}
            body = {} if method in ("post", "put", "patch") else None
            response = respond(world, method, url, user, body)
            status = response.status_code
            if not reaches and action == VIEW and (
                    shows_nothing(response) or (method == "post" and status == 400)):
                continue  # outside one's scope a list is empty; a malformed question
            if not reaches and status not in (403, 404):
                failures.append(f"{user} {method.upper()} {path} ({obj}/{action}): "
                                f"the table refuses, the API answered {status}")
            if ALL in reaches and status in (401, 403, 404):
                failures.append(f"{user} {method.upper()} {path} ({obj}/{action}): "
                                f"the table grants, the API answered {status}")
    assert not failures, "\n".join(failures)


def _holds(access, role: str) -> bool:
    return {
        SIGNED_IN: access.user_id is not None,
        "fleet_admin": access.fleet_admin, "fleet_viewer": access.fleet_viewer,
        "org_admin": bool(access.admin_org_ids),
        "org_billing_viewer": bool(access.viewer_org_ids),
        "project_billing_viewer": bool(access.viewer_project_ids),
    }[role]


def budget_paths(world, budget: Budget) -> list[tuple[str, str]]:
    """Every operation of the schema on one budget, as (method, url)."""
    scope = "projects" if budget.project_id else "organizations"
    return [(method, world.url(path, budget_id=budget.pk)) for method, path, _ in operations()
            if "{budget_id}" in path and path.startswith(f"/api/v1/{scope}/")]


def test_budgets_follow_the_table_per_budget_for_every_role(world):
    budgets = [world.budget, world.org_budget, world.admins_project_budget]
    failures = []
    for budget in budgets:
        with inside(world.provider):
            target = Target(
                organization_id=world.org.pk, owner_id=budget.created_by_id,
                project_id=budget.project_id)
        for method, url in budget_paths(world, budget):
            action = ACTION_OF[method]
            for user in USERS:
                allowed = policy_allows(world.access[user], BUDGET, action, target)
                body = {"name": "Renamed", "amount": "10", "thresholds": [50],
                        "recipient_emails": ["fin@mars.example"]} if method == "put" else None
                status = answer(world, method, url, user, body)
                if allowed != (status < 400):
                    failures.append(f"{user} {method.upper()} {budget.name!r} by "
                                    f"{budget.created_by.username}: table says "
                                    f"{'yes' if allowed else 'no'}, API answered {status}")
    assert not failures, "\n".join(failures)


def test_the_issues_case_a_project_viewer_cannot_rewrite_the_org_admins_budget(world):
    url = world.url("/api/v1/projects/{project_name}/budgets/{budget_id}",
                    budget_id=world.admins_project_budget.pk)
    body = {"name": "Rewritten", "amount": "1", "thresholds": [10],
            "recipient_emails": ["me@mars.example"]}
    refused = world.call("put", url, user="projviewer", body=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    # ... but sets one of their own, and changes it.
    created = world.call("post", world.url("/api/v1/projects/{project_name}/budgets"),
                         user="projviewer", body={**body, "name": "Mine"})
    assert created.status_code == 201
    mine = world.url("/api/v1/projects/{project_name}/budgets/{budget_id}",
                     budget_id=created.json()["id"])
    assert world.call("put", mine, user="projviewer",
                      body={**body, "name": "Still mine"}).status_code == 200
    # The org admin changes either.
    by_admin = world.call("put", url, user="orgadmin", body=body)
    assert by_admin.status_code == 200, by_admin.content


def test_the_admin_obeys_the_table_a_fleet_viewer_changes_only_their_budgets(world):
    with inside(world.provider):
        own = budget_create(
            project=world.project, name="The viewer's", amount=5, thresholds=[50],
            recipient_usernames=[], recipient_emails=["fin@mars.example"],
            actor=world.users["fleetviewer"], now=at(2020, 10, 1))
    client = host_client(world.provider)
    assert sign_in(client, "fleetviewer")
    others = client.get(f"/admin/budgets/budget/{world.budget.pk}/change/")
    mine = client.get(f"/admin/budgets/budget/{own.pk}/change/")
    assert others.status_code == mine.status_code == 200
    assert b'name="_save"' not in others.content  # shown read-only
    assert b'name="_save"' in mine.content
    assert client.post(f"/admin/budgets/budget/{world.budget.pk}/delete/",
                       {"post": "yes"}).status_code == 403
    with inside(world.provider):
        assert Budget.objects.filter(pk=world.budget.pk).exists()
