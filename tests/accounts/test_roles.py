"""Who may grant what: fleet admins anything, org admins their org, viewers of a project
may share viewing of it. Refusals are 403 (scope seen) or 404 (scope not seen)."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from accounts.access import access_for
from accounts.grants import GrantRefused, ScopeNotFound, role_grant, role_revoke
from accounts.models import Role, RoleGrant
from accounts.organizations import organization_create
from accounts.projects import project_create
from tests.accounts.support import make_user
from tests.conftest import inside

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OK = "ok"


@pytest.fixture
def world(beta):
    """mars (project adventure) and venus (project other); a user per role."""
    with inside(beta):
        users = {name: make_user(name) for name in
                 ("orgadmin", "orgviewer", "creator", "pviewer", "nobody", "target")}
        users["bob"] = get_user_model().objects.get(username="bob")  # superuser: fleet admin
        mars = organization_create(name="mars", display_name="Mars", actor=users["orgadmin"],
                                   now=NOW)
        venus = organization_create(name="venus", display_name="Venus", actor=None, now=NOW)
        adventure = project_create(name="adventure", organization=mars,
                                   actor=users["creator"], now=NOW)
        other = project_create(name="other", organization=venus, actor=None, now=NOW)
        RoleGrant.objects.create(user=users["orgviewer"], role=Role.ORG_BILLING_VIEWER,
                                 organization=mars)
        RoleGrant.objects.create(user=users["pviewer"], role=Role.PROJECT_BILLING_VIEWER,
                                 project=adventure)
        yield {"users": users, "mars": mars, "venus": venus, "adventure": adventure,
               "other": other}


def _grant(world, granter, role, scope):
    users = world["users"]
    kwargs = {"organization": world[scope]} if scope in ("mars", "venus") else (
        {"project": world[scope]} if scope else {})
    try:
        role_grant(user=users["target"], role=role, granted_by=users[granter],
                   access=access_for(users[granter]), **kwargs)
    except ScopeNotFound:
        return 404
    except GrantRefused:
        return 403
    return OK


@pytest.mark.parametrize(
    ("granter", "role", "scope", "expected"),
    [
        ("bob", Role.FLEET_VIEWER, None, OK),
        ("bob", Role.ORG_ADMIN, "venus", OK),
        ("bob", Role.PROJECT_BILLING_VIEWER, "other", OK),
        ("orgadmin", Role.ORG_ADMIN, "mars", OK),
        ("orgadmin", Role.ORG_BILLING_VIEWER, "mars", OK),
        ("orgadmin", Role.PROJECT_BILLING_VIEWER, "adventure", OK),
        ("orgadmin", Role.ORG_ADMIN, "venus", 404),
        ("orgadmin", Role.PROJECT_BILLING_VIEWER, "other", 404),
        ("orgadmin", Role.FLEET_ADMIN, None, 403),
        ("orgviewer", Role.ORG_BILLING_VIEWER, "mars", 403),
        ("orgviewer", Role.PROJECT_BILLING_VIEWER, "adventure", 403),
        ("creator", Role.PROJECT_BILLING_VIEWER, "adventure", OK),
        ("pviewer", Role.PROJECT_BILLING_VIEWER, "adventure", OK),
        ("pviewer", Role.ORG_BILLING_VIEWER, "mars", 403),  # sees mars through its project
        ("pviewer", Role.PROJECT_BILLING_VIEWER, "other", 404),
        ("nobody", Role.PROJECT_BILLING_VIEWER, "adventure", 404),
        ("nobody", Role.ORG_ADMIN, "mars", 404),
        ("nobody", Role.FLEET_VIEWER, None, 403),
    ],
)
def test_who_may_grant_what(beta, world, granter, role, scope, expected):
    with inside(beta):
        assert _grant(world, granter, role, scope) == expected
        held = RoleGrant.objects.filter(user=world["users"]["target"], role=role).exists()
        assert held is (expected == OK)


def test_granting_twice_is_a_no_op(beta, world):
    with inside(beta):
        creator, target = world["users"]["creator"], world["users"]["target"]
        first = role_grant(user=target, role=Role.PROJECT_BILLING_VIEWER,
                           project=world["adventure"], granted_by=creator,
                           access=access_for(creator))
        second = role_grant(user=target, role=Role.PROJECT_BILLING_VIEWER,
                            project=world["adventure"], granted_by=creator,
                            access=access_for(creator))
        assert first.pk == second.pk and first.granted_by == creator
        assert RoleGrant.objects.filter(user=target).count() == 1
        # The target now sees the project, and nothing of venus.
        access = access_for(target)
        assert access.can_view_project(world["adventure"])
        assert not access.can_view_project(world["other"])


def test_the_scope_must_fit_the_role(beta, world):
    with inside(beta):
        bob = world["users"]["bob"]
        with pytest.raises(ValidationError) as refused:
            role_grant(user=bob, role=Role.ORG_ADMIN, project=world["adventure"],
                       granted_by=bob, access=access_for(bob))
        assert list(refused.value.message_dict) == ["organization"]
        with pytest.raises(ValidationError) as refused:
            role_grant(user=bob, role=Role.PROJECT_BILLING_VIEWER, organization=world["mars"],
                       granted_by=bob, access=access_for(bob))
        assert list(refused.value.message_dict) == ["project"]


def test_a_viewer_revokes_only_grants_they_made_or_their_own(beta, world):
    with inside(beta):
        users, adventure = world["users"], world["adventure"]
        creator, pviewer, target = users["creator"], users["pviewer"], users["target"]
        role_grant(user=target, role=Role.PROJECT_BILLING_VIEWER, project=adventure,
                   granted_by=creator, access=access_for(creator))
        with pytest.raises(GrantRefused):
            role_revoke(user=target, role=Role.PROJECT_BILLING_VIEWER, project=adventure,
                        revoked_by=pviewer, access=access_for(pviewer))
        assert role_revoke(user=target, role=Role.PROJECT_BILLING_VIEWER, project=adventure,
                           revoked_by=creator, access=access_for(creator)) is True
        assert role_revoke(user=target, role=Role.PROJECT_BILLING_VIEWER, project=adventure,
                           revoked_by=creator, access=access_for(creator)) is False
        assert role_revoke(user=pviewer, role=Role.PROJECT_BILLING_VIEWER, project=adventure,
                           revoked_by=pviewer, access=access_for(pviewer)) is True
        assert not RoleGrant.objects.filter(user__in=[target, pviewer]).exists()


def test_an_org_admin_revokes_org_grants_of_their_org_only(beta, world):
    with inside(beta):
        users = world["users"]
        orgadmin = users["orgadmin"]
        assert role_revoke(user=users["orgviewer"], role=Role.ORG_BILLING_VIEWER,
                           organization=world["mars"], revoked_by=orgadmin,
                           access=access_for(orgadmin)) is True
        with pytest.raises(ScopeNotFound):
            role_revoke(user=users["target"], role=Role.ORG_ADMIN, organization=world["venus"],
                        revoked_by=orgadmin, access=access_for(orgadmin))
