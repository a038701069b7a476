"""API-key authentication without a PostgreSQL query per request: the key's row, its
user and the user's role grants, kept in each process by (schema, prefix) and tagged
with the provider's `auth` version in Redis, which every write to an API key, a user or
a role grant replaces after commit (signal receivers in accounts/quota_signals.py; the
bulk updates of revoking a key and deactivating a user call `auth_cache_invalidate`).
Revocation and deactivation are seen by the next request; expiry is compared with real
time on every request, from the cached `expires_at`. Inside a transaction, or while
Redis fails, the caller queries PostgreSQL as before. Callers get copies: the cached
objects are never handed out."""

import copy
import time
from collections.abc import Callable

import redis
from django.db import connection

from accounts import quota_cache

_entries: dict[tuple[str, str], tuple[str, float, tuple]] = {}
quota_cache.LOCAL_CACHES.append(_entries)
KIND = "auth"


def auth_cache_invalidate() -> None:
    quota_cache.quota_cache_invalidate(KIND)


def key_lookup(prefix: str, load: Callable[[str], tuple]) -> tuple:
    """`load(prefix)` (the key, its user, their grants), cached under the auth version."""
    client = quota_cache.usable()
    if client is None:
        return load(prefix)
    schema = connection.schema_name
    try:
        version = client.get(quota_cache._version_key(schema, KIND))
        hit = _entries.get((schema, prefix))
        if (hit is not None and version is not None and hit[0] == version.decode()
                and hit[1] > time.monotonic()):
            found = hit[2]
        else:
            version = quota_cache.version_get(client, schema, KIND)
            found = load(prefix)
            if found[0] is not None:  # unknown prefixes are never cached
                if len(_entries) >= 10_000:
                    _entries.clear()
                _entries[(schema, prefix)] = (
                    version, time.monotonic() + quota_cache.ENTRY_SECONDS, found)
    except redis.RedisError as error:
        quota_cache.failed(error)
        return load(prefix)
    api_key, grants = found
    if api_key is None:
        return None, []
    fresh = copy.copy(api_key)
    fresh.user = copy.copy(api_key.user)
    return fresh, list(grants)


def key_used(schema: str, prefix: str, when) -> None:
    """The key's last use was written: the cached row says so too, so this process does
    not write it again on every request."""
    hit = _entries.get((schema, prefix))
    if hit is not None:
        hit[2][0].last_used_at = when
