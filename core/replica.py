"""Dashboards on a read replica: which database a dashboard's read goes to.

There is no database router: a router cannot tell a dashboard's read from the
read-before-write of a service. The dashboards' read-only selectors name the alias
themselves, `.using(read_alias())`; services, APIs, admin and Celery tasks keep
reading and writing `default`.

`read_alias()` answers "replica" only when all of these hold:
- DATABASE_REPLICA_URL configured the alias (billing/settings/database.py);
- the read happens inside a request that went through `ReplicaMiddleware`, which
  points the replica connection at the request's provider schema (django-tenants
  sets the search_path of `default` only). Outside a request (Celery tasks,
  management commands) nothing has chosen the replica's schema, so they read `default`;
- the replica answers and lags at most DATABASE_REPLICA_MAX_LAG_SECONDS. What the check
  found is trusted for HEALTH_SECONDS in each process: one query every few seconds,
  not one per page;
- the browser has not written anything lately: after a signed-in person's POST (a
  credit, a rating run, a price edited in the admin) their pages read `default` for as
  long as the replica may be behind (the lag allowed, plus the time a health check is
  trusted), so the page after a change always shows it.
The choice is made once per request, so one page never mixes the two databases.
"""

import logging
import time
from contextvars import ContextVar
from decimal import Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, Error, connections

REPLICA = "replica"
HEALTH_SECONDS = 5
PRIMARY_COOKIE = "tally_read_primary"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")

# Seconds the replica is behind. 0 on a primary, and on a standby that still streams and
# has replayed all it received: `now() - pg_last_xact_replay_timestamp()` alone keeps
# growing while the primary is idle, though nothing is missing. A standby whose WAL
# receiver stopped is measured by its last replayed transaction, so it ages out.
LAG_SQL = """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
             AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
            THEN 0
        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
    END
"""

logger = logging.getLogger(__name__)

# None outside a request through the middleware; "" until the request's first read
# chooses; then the alias chosen for the rest of the request.
_request_alias: ContextVar[str | None] = ContextVar("tally_read_alias", default=None)
_health: tuple[float, bool] | None = None  # (trusted until, healthy)
_clock = time.monotonic


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_lag_seconds() -> Decimal:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(LAG_SQL)
        (lag,) = cursor.fetchone()
    return Decimal(lag)


def replica_healthy() -> bool:
    """Whether the replica answers and is recent enough (cached HEALTH_SECONDS)."""
    global _health
    now = _clock()
    if _health is not None and _health[0] > now:
        return _health[1]
    try:
        lag = replica_lag_seconds()
    except Error as exc:
        logger.warning("read replica unreachable, dashboards read the primary: %s", exc)
        # A broken session is dropped, so the next check connects afresh.
        connections[REPLICA].close()
        healthy = False
    else:
        healthy = lag <= settings.DATABASE_REPLICA_MAX_LAG_SECONDS
        if not healthy:
            logger.warning("read replica %s s behind, dashboards read the primary", lag)
    _health = (now + HEALTH_SECONDS, healthy)
    return healthy


def replica_health_forget() -> None:
    """Check again at the next read (tests; an operator's shell after a failover)."""
    global _health
    _health = None


def read_alias() -> str:
    """The alias a dashboard's read-only query uses: "replica" or "default"."""
    chosen = _request_alias.get()
    if chosen is None:
        return DEFAULT_DB_ALIAS
    if not chosen:
        chosen = REPLICA if replica_healthy() else DEFAULT_DB_ALIAS
        _request_alias.set(chosen)
    return chosen


class ReplicaMiddleware:
    """Selects the request's schema on the replica connection, as ProviderMiddleware
    does on `default`; listed right after it. Costs nothing without a replica, and no
    query with one: the search_path is set with the replica's first query. Marks the
    browser of a signed-in person who just wrote, to read `default` for a while."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_configured():
            return self.get_response(request)
        replica = connections[REPLICA]
        tenant = getattr(request, "tenant", None)
        if tenant is None:  # a public host: the provider registry and platform admin
            replica.set_schema_to_public()
        else:
            replica.set_tenant(tenant)
        signed_in = settings.SESSION_COOKIE_NAME in request.COOKIES
        pinned = signed_in and PRIMARY_COOKIE in request.COOKIES
        token = _request_alias.set(DEFAULT_DB_ALIAS if pinned else "")
        try:
            response = self.get_response(request)
        finally:
            _request_alias.reset(token)
        if signed_in and request.method not in SAFE_METHODS:
            response.set_cookie(
                PRIMARY_COOKIE, "1",
                max_age=settings.DATABASE_REPLICA_MAX_LAG_SECONDS + HEALTH_SECONDS,
                secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax",
            )
        return response
