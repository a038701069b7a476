"""Django's permission checks answered by Tally's roles (accounts/policy.py).

Inside a provider's schema, `user.has_perm(...)` and `user.has_module_perms(...)` ask
the user's role grants; in the public schema (the platform admin) Django's own model
backend answers, so the platform's superusers keep their rights there and only there.
"""

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django_tenants.utils import get_public_schema_name

from accounts.access import Access, access_for
from accounts.policy import Target, admin_permission_allowed, admin_site_allowed

_CACHE = "_tally_access"


def remember_access(user, access: Access) -> None:
    """For a caller that read the grants already (API-key authentication)."""
    setattr(user, _CACHE, access)


def user_access(user) -> Access:
    """The user's roles, read once per user object (a request's, usually)."""
    access = getattr(user, _CACHE, None)
    if access is None:
        access = access_for(user)
        setattr(user, _CACHE, access)
    return access


def object_target(obj) -> Target | None:
    """The policy's view of a model instance: its organization, project and creator
    (a project's organization for an object on a project)."""
    if obj is None:
        return None
    project = getattr(obj, "project", None)
    organization_id = getattr(obj, "organization_id", None) or getattr(
        project, "organization_id", None)
    return Target(organization_id=organization_id, project_id=getattr(obj, "project_id", None),
                  owner_id=getattr(obj, "created_by_id", None))


def _in_provider() -> bool:
    return connection.schema_name != get_public_schema_name()


class RoleBackend(ModelBackend):
    def has_perm(self, user_obj, perm, obj=None):
        if not _in_provider():
            return super().has_perm(user_obj, perm, obj)
        if not user_obj.is_active or "." not in perm:
            return False
        return admin_permission_allowed(user_access(user_obj), perm.split(".", 1)[1],
                                        object_target(obj))

    def has_module_perms(self, user_obj, app_label):
        if not _in_provider():
            return super().has_module_perms(user_obj, app_label)
        return user_obj.is_active and admin_site_allowed(user_access(user_obj))

    def get_all_permissions(self, user_obj, obj=None):
        if not _in_provider():
            return super().get_all_permissions(user_obj, obj)
        return set()  # rights are computed per check, never listed


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout for sign-ins made through a request (forms, the admin);
    a sign-in without one (a command, a test client's login) has no client to lock out."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
