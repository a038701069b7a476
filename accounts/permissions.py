"""The caller's roles on an API request, and the role permissions views declare."""

from rest_framework import exceptions, permissions

from accounts.access import Access, visible_organizations, visible_projects
from accounts.backends import user_access


def request_access(request) -> Access:
    """The caller's roles, computed once per request (kept on its user object)."""
    return user_access(request.user)


class IsFleetAdmin(permissions.BasePermission):
    message = "Only a fleet billing admin may do this."

    def has_permission(self, request, view):
        return request_access(request).fleet_admin


class IsFleetAdminOrReadOnlyViewer(permissions.BasePermission):
    """Fleet admins write; fleet viewers and admins read."""

    message = "Only fleet billing roles may see this."

    def has_permission(self, request, view):
        access = request_access(request)
        if request.method in permissions.SAFE_METHODS:
            return access.sees_fleet
        return access.fleet_admin


NO_SUCH_PROJECT = "no project {name!r}"
NO_SUCH_ORG = "no organization {name!r}"


def project_in_scope(request, project_name: str):
    """(None, the project) when the caller may see project `project_name`, else 404."""
    project = visible_projects(request_access(request)).select_related("organization").filter(
        name=project_name).first()
    if project is None:
        raise exceptions.NotFound(NO_SUCH_PROJECT.format(name=project_name))
    return None, project


def organization_in_scope(request, org_name: str):
    """(the organization, None) when the caller may see organization `org_name`, else 404."""
    access = request_access(request)
    organization = visible_organizations(access).filter(name=org_name).first()
    if organization is None or not access.can_view_org(organization.pk):
        raise exceptions.NotFound(NO_SUCH_ORG.format(name=org_name))
    return organization, None
