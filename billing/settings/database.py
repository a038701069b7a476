"""PostgreSQL from DATABASE_URL (and an optional read replica), Redis (cache) from REDIS_URL."""

import dj_database_url

from core.env import env_int, env_str

DATABASE_URL = env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tally")
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
# django-tenants switches the search_path per request; its backend wraps psycopg,
# and billing/db_backend skips the switch when the schema is already in effect.
DATABASES["default"]["ENGINE"] = "billing.db_backend"

# A streaming replica the dashboards read from (docs/scaling.md §3, billing/replica.py).
# Only pages that opt in read it; nothing is routed there by a database router.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
# Further behind than this (or unreachable), the dashboards read the primary instead.
DATABASE_REPLICA_MAX_LAG_SECONDS = env_int("DATABASE_REPLICA_MAX_LAG_SECONDS", 30)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=60)
    # The same schema-switching backend: the replica's search_path is set per request.
    DATABASES["replica"]["ENGINE"] = DATABASES["default"]["ENGINE"]
    # A replica that stops answering costs a page at most this long before it falls back.
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
    # A test run points the alias at the test database, never at a real replica. It is
    # a separate session there: it does not see what a test wrote in its transaction.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Every cache key carries the schema it was written from, so one
        # provider can never read another's cached value.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
    }
}

# Set the search_path only when the schema changes, not before every query.
TENANT_LIMIT_SET_CALLS = True
