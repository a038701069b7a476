"""Transaction-scoped PostgreSQL advisory locks, one keyspace per provider schema.

Closing a cycle must not race with an ingestion batch that checked the cycle
was still open just before: ingestion holds the provider's *usage* lock shared
for its transaction, closing takes it exclusively while it marks the cycle
closing, so it waits for batches in flight and every later batch sees the
cycle closing.
"""

from django.db import connection

_USAGE = "usage"


def _key(name: str) -> str:
    # hashtext() of schema and purpose: providers never contend with each other.
    return f"{connection.schema_name}:{name}"


def usage_lock_shared() -> None:
    """Held by every ingestion batch, until its transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(hashtext(%s))", [_key(_USAGE)])


def usage_lock_exclusive() -> None:
    """Held while a cycle turns to closing: waits for ingestion batches in flight."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_key(_USAGE)])


def session_lock_try(name: str) -> bool:
    """Take the provider's lock `name` for this database session, if free: for work
    longer than a transaction (a sandbox clock's run). Release it with
    `session_lock_release`; a session that ends (a worker killed) releases it too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_key(name)])
        return bool(cursor.fetchone()[0])


def session_lock_release(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_key(name)])
