"""Django's permission checks answered by Tally's roles (accounts/policy.py).

Inside a provider's schema, `user.has_perm(...)` and `user.has_module_perms(...)` ask
the user's role grants; in the public schema (the platform admin) Django's own model
backend answers, so the platform's superusers keep their rights there and only there.
"""

from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django_tenants.utils import get_public_schema_name

from accounts.access import Access, access_for
from accounts.policy import admin_permission_allowed, admin_site_allowed

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


def _in_provider() -> bool:
    return connection.schema_name != get_public_schema_name()


class RoleBackend(ModelBackend):
    def has_perm(self, user_obj, perm, obj=None):
        if not _in_provider():
            return super().has_perm(user_obj, perm, obj)
        if not user_obj.is_active or "." not in perm:
            return False
        return admin_permission_allowed(user_access(user_obj), perm.split(".", 1)[1])

    def has_module_perms(self, user_obj, app_label):
        if not _in_provider():
            return super().has_module_perms(user_obj, app_label)
        return user_obj.is_active and admin_site_allowed(user_access(user_obj))

    def get_all_permissions(self, user_obj, obj=None):
        if not _in_provider():
            return super().get_all_permissions(user_obj, obj)
        return set()  # rights are computed per check, never listed
