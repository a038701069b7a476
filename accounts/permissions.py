"""The caller's roles on an API request, and the role permissions views declare."""

from rest_framework import exceptions, permissions

from accounts.access import Access, visible_organizations, visible_projects
from accounts.backends import user_access
from accounts.policy import VIEW, operation_action, operation_object, policy_allows
from core.api_tags import operation_tag


def request_access(request) -> Access:
    """The caller's roles, computed once per request (kept on its user object)."""
    return user_access(request.user)


class PolicyTablePermission(permissions.IsAuthenticated):
    """Every API view's first door (the default permission class): for a write, the
    policy's table must give the caller's roles some reach for the operation's action on
    its object (accounts/policy.py), before the view reads the body: 403 otherwise.
    Reads are narrowed by the views themselves (`visible_*`): outside one's scope a
    list is empty and an object 404, never another's data."""

    message = "Your roles do not allow this."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        path = request.path
        action = operation_action(path, request.method)
        if action == VIEW:
            return True
        handler = _handler_class(view, request.method.lower())
        obj = operation_object(path, operation_tag(path, handler))
        access = request_access(request)
        if policy_allows(access, obj, action):
            return True
        if not policy_allows(access, obj, VIEW):
            # Outside one's scope a write answers as a read would: nothing is there.
            raise exceptions.NotFound()
        return False


def _handler_class(view, method: str) -> type:
    return next((cls for cls in type(view).__mro__ if method in vars(cls)), type(view))


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
