"""PostgreSQL from DATABASE_URL, and Redis (cache) from REDIS_URL."""

import dj_database_url

from billing.env import env_str

DATABASE_URL = env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tally")
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
# django-tenants switches the search_path per request; its backend wraps psycopg,
# and billing/db_backend skips the switch when the schema is already in effect.
DATABASES["default"]["ENGINE"] = "billing.db_backend"

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
