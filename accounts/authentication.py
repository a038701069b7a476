"""API-key authentication for DRF: `Authorization: Bearer tly_<prefix>_<secret>`."""

import hmac
from datetime import timedelta
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework import authentication, exceptions

from accounts.access import access_from_grants
from accounts.api_key_cache import key_lookup, key_used
from accounts.api_keys import hash_api_key, split_api_key
from accounts.backends import remember_access
from accounts.models import ApiKey, RoleGrant
from accounts.scopes import scope_check
from audit.context import api_key_used
from cycles.clock import real_now

INVALID_KEY = "Invalid API key."
REVOKED_KEY = "This API key was revoked."
EXPIRED_KEY = "This API key has expired."
# Writing last_used_at on every request would serialize hot endpoints on one row.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme not in (self.keyword, "Api-Key"):
            return None
        parts = split_api_key(secret.strip())
        if parts is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        api_key, grants = key_lookup(parts[0], _key_user_and_grants)
        # Compare even when no row matched, so timing does not reveal prefixes.
        expected = api_key.key_hash if api_key else "0" * 64
        if not hmac.compare_digest(expected, hash_api_key(secret.strip())) or api_key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        if not api_key.user.is_active:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed(REVOKED_KEY)
        now = real_now()
        if api_key.expires_at is not None and api_key.expires_at <= now:
            raise exceptions.AuthenticationFailed(EXPIRED_KEY)
        scope_check(api_key, request)
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            key_used(connection.schema_name, api_key.prefix, now)
        # The role checks read this instead of querying the grants again.
        remember_access(api_key.user, access_from_grants(api_key.user, grants))
        # The audit context opened before DRF authenticated: name the key and its user.
        api_key_used(user=api_key.user, prefix=api_key.prefix)
        return api_key.user, api_key

    def authenticate_header(self, request):
        return self.keyword


@cache
def _key_query() -> tuple[str, list[str], list[str]]:
    user_model = get_user_model()
    key_fields = [f.attname for f in ApiKey._meta.concrete_fields]
    user_fields = [f.attname for f in user_model._meta.concrete_fields]
    columns = [f'k."{name}"' for name in key_fields] + [f'u."{name}"' for name in user_fields]
    sql = f"""
        SELECT {", ".join(columns)},
               (SELECT COALESCE(array_agg(ARRAY[g.role, g.organization_id::text,
                                                g.project_id::text]), '{{}}')
                FROM {RoleGrant._meta.db_table} g WHERE g.user_id = u.id)
        FROM {ApiKey._meta.db_table} k JOIN {user_model._meta.db_table} u ON u.id = k.user_id
        WHERE k.prefix = %s"""
    return sql, key_fields, user_fields


def _key_user_and_grants(prefix: str) -> tuple[ApiKey | None, list[tuple]]:
    """The key with this prefix (revoked too: the caller says why it is refused), its
    user and the user's role grants, in one round trip and without the ORM's query
    compiler: every API call pays this, and building the ORM query cost more than
    running it."""
    sql, key_fields, user_fields = _key_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None, []
    api_key = ApiKey.from_db(connection.alias, key_fields, row[:len(key_fields)])
    api_key.user = get_user_model().from_db(
        connection.alias, user_fields, row[len(key_fields):-1])
    grants = [(role, int(org) if org else None, int(project) if project else None)
              for role, org, project in row[-1]]
    return api_key, grants
