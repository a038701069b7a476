"""Role grants: who may give (and take away) which role on which scope, and the writes."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404

from accounts.access import visible_organizations
from accounts.models import FLEET_ROLES, ORG_ROLES, Organization, Project, Role, RoleGrant
from audit.context import records_actor

ROLE_SCOPE_FLEET = "a fleet role is granted fleet-wide: give neither organization nor project"
ROLE_SCOPE_ORG = "an organization role needs an organization (and no project)"
ROLE_SCOPE_PROJECT = "a project role needs a project (and no organization)"
GRANT_REFUSED = "you may not grant or revoke {role} here"


class GrantRefused(PermissionDenied):
    """The caller sees the scope but may not grant (or revoke) this role on it: 403."""


class ScopeNotFound(Http404):
    """The caller cannot even see the scope of the grant: 404, as if it did not exist."""


def _check_role_scope(*, role: str, organization: Organization | None,
                      project: Project | None) -> None:
    if role not in Role.values:
        raise ValidationError({"role": [f"unknown role {role!r}"]})
    if role in FLEET_ROLES and (organization is not None or project is not None):
        raise ValidationError({"role": [ROLE_SCOPE_FLEET]})
    if role in ORG_ROLES and (organization is None or project is not None):
        raise ValidationError({"organization": [ROLE_SCOPE_ORG]})
    if role == Role.PROJECT_BILLING_VIEWER and (project is None or organization is not None):
        raise ValidationError({"project": [ROLE_SCOPE_PROJECT]})


def _check_may_manage_grant(*, access, role: str, organization: Organization | None,
                            project: Project | None, grant: RoleGrant | None = None) -> None:
    """Who may grant (and revoke) what:

    - a fleet admin: anything;
    - an org admin: organization roles on their organization, and project
      billing viewer on its projects;
    - a project billing viewer: project billing viewer on that project (the
      seed: a project's creator grants viewing to others). When revoking, only
      the grants they made themselves, or their own.

    A caller who cannot see the scope gets ScopeNotFound (404); one who sees it
    but may not do this gets GrantRefused (403).
    """
    if access.fleet_admin:
        return
    refused = GrantRefused(GRANT_REFUSED.format(role=Role(role).label))
    if role in FLEET_ROLES:
        raise refused
    if project is not None:
        if not access.can_view_project(project):
            raise ScopeNotFound()
        if access.can_manage_org(project.organization_id):
            return
        if project.pk in access.viewer_project_ids and (
            grant is None or grant.granted_by_id == access.user_id
            or grant.user_id == access.user_id
        ):
            return
        raise refused
    if organization is not None:
        if not access.can_view_org(organization.pk) and not visible_organizations(
            access
        ).filter(pk=organization.pk).exists():
            raise ScopeNotFound()
        if access.can_manage_org(organization.pk):
            return
        raise refused


def role_grant_check(*, role: str, organization: Organization | None = None,
                     project: Project | None = None, access) -> None:
    """The checks of `role_grant`, without writing."""
    _check_role_scope(role=role, organization=organization, project=project)
    _check_may_manage_grant(access=access, role=role, organization=organization, project=project)


@records_actor("granted_by")
def role_grant(*, user, role: str, organization: Organization | None = None,
               project: Project | None = None, granted_by, access) -> RoleGrant:
    """Give `user` a role on a scope, if `access` (the granter's) allows it.
    Granting what is already held is a no-op that returns the existing grant."""
    role_grant_check(role=role, organization=organization, project=project, access=access)
    scope = {"user": user, "role": role, "organization": organization, "project": project}
    with transaction.atomic():
        existing = RoleGrant.objects.filter(**scope).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                return RoleGrant.objects.create(**scope, granted_by=granted_by)
        except IntegrityError:  # a concurrent identical grant won
            return RoleGrant.objects.get(**scope)


@records_actor("revoked_by")
def role_revoke(*, user, role: str, organization: Organization | None = None,
                project: Project | None = None, revoked_by, access) -> bool:
    """Take a role away; True if there was a grant to remove (revoking twice is a no-op)."""
    _check_role_scope(role=role, organization=organization, project=project)
    scope = {"user": user, "role": role, "organization": organization, "project": project}
    with transaction.atomic():
        grant = RoleGrant.objects.select_for_update().filter(**scope).first()
        _check_may_manage_grant(access=access, role=role, organization=organization,
                                project=project, grant=grant)
        if grant is None:
            return False
        grant.delete()
    return True
