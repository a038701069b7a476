"""The entitlement check off PostgreSQL's hot path: what `check` needs, per provider,
kept in each web process and in Redis, never answered from a stale version.

- What a check reads (the project, the feature, the project's assignments with their
  windows, the feature's grants with their entitlements' windows) is kept in this
  process, tagged with the provider's version: a random token in Redis that every
  write changing those rows replaces after commit (`quota_cache_invalidate`, called by
  signal receivers on the models and by the services' bulk updates; a random token,
  not a counter, so a flushed Redis never brings an old version back). A check reads
  the token and the counter in one Redis round trip and reloads from PostgreSQL when
  the token differs. Windows are cached, not answers: "now" (the provider's clock) is
  compared on every check, so an entitlement or assignment ending at T stops at T.
- What is reserved: a counter per (project or billing account, feature) in Redis, in
  units of 1e-10, seeded from PostgreSQL's QuotaCounter row when absent (SET NX,
  expiring after COUNTER_SECONDS so any drift heals by reseeding). PostgreSQL stays the
  record and the final arbiter: see accounts/quota.py `quota_reserve`.

Every key carries the provider's schema name. Inside a transaction (the caller's
writes not yet committed, or a test's) and while Redis fails, the caller reads
PostgreSQL instead: slower, never wrong.
"""

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import redis
from django.conf import settings
from django.db import connection, transaction

from accounts.models import FeatureGrant, Project, ProjectAccountAssignment, QuotaCounter
from catalog.models import Feature, FeatureKind, FeatureScope

log = logging.getLogger(__name__)

SCALE = 10**10  # quantities have at most 10 decimal places (the column's)
# Lua compares in doubles: exact for integers below 2**53.
EXACT_BELOW = 2**53
COUNTER_SECONDS = 30
# A safety net only: a version bump lost while Redis was unreachable is forgotten
# after this long (and at once by a process that saw Redis fail).
ENTRY_SECONDS = 60
# After Redis fails, checks read PostgreSQL for this long before trying Redis again.
BACKOFF_SECONDS = 1.0
_MAX_ENTRIES = 20_000

# A counter is a hash: `u` the units reserved, `g` its generation (a random token set
# when it is seeded). A reservation admitted on one generation and committed after the
# counter was reseeded (flushed, expired) may be missing from the new seed: it sees the
# generation changed and drops the counter, to be reseeded from PostgreSQL again.

# Reserve ARGV[1] units unless the counter would pass ARGV[2] (negative: no limit).
# Returns {1, used after, generation} admitted, {0, used, generation} refused,
# {-1, 0, ''} not seeded.
_ADMIT_LUA = """
local used = redis.call('HGET', KEYS[1], 'u')
if not used then return {-1, 0, ''} end
local generation = redis.call('HGET', KEYS[1], 'g')
local n = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if limit >= 0 and tonumber(used) + n > limit then return {0, used, generation} end
return {1, redis.call('HINCRBY', KEYS[1], 'u', ARGV[1]), generation}
"""
# Seed with ARGV[1] units, generation ARGV[2], expiring in ARGV[3] s, unless present.
_SEED_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'u', ARGV[1], 'g', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return redis.call('HGET', KEYS[1], 'u')
"""
# Give back ARGV[1] units taken on generation ARGV[2] (a later seed never counted them).
_GIVE_BACK_LUA = """
if redis.call('HGET', KEYS[1], 'g') == ARGV[2] then
  return redis.call('HINCRBY', KEYS[1], 'u', -tonumber(ARGV[1]))
end
return false
"""
# After commit: drop the counter unless it is still generation ARGV[1].
_SETTLE_LUA = """
local generation = redis.call('HGET', KEYS[1], 'g')
if generation and generation ~= ARGV[1] then redis.call('DEL', KEYS[1]) end
return false
"""


@dataclass(frozen=True)
class Entry:
    """What a check of (project name, feature key) needs, windows included."""

    project: tuple[int, int] | None  # id, organization_id
    feature: tuple[int, str, str] | None  # id, kind, scope
    assignments: tuple[tuple[datetime, datetime | None, int], ...] = ()
    # billing account id -> (enabled, limit, entitlement start, entitlement end)
    grants: tuple[tuple[int, bool, Decimal | None, datetime | None, datetime | None], ...] = ()

    def account_at(self, now: datetime) -> int | None:
        for valid_from, valid_to, account_id in self.assignments:
            if valid_from <= now and (valid_to is None or valid_to > now):
                return account_id
        return None

    def grant_at(self, account_id: int | None, now: datetime) -> tuple[bool, Decimal | None]:
        for grant_account, enabled, limit, start, end in self.grants:
            if grant_account == account_id:
                active = (enabled and start is not None and start <= now
                          and (end is None or end > now))
                return active, limit
        return False, None

    def counter_key(self, schema: str, now: datetime) -> str | None:
        """The counter a check at `now` reads; None when it reads none (a flag, no grant)."""
        if self.project is None or self.feature is None or self.feature[1] != FeatureKind.QUOTA:
            return None
        account_id = self.account_at(now)
        if account_id is None or not self.grant_at(account_id, now)[0]:
            return None
        return counter_key(schema, self.feature[2], self.project[0], account_id,
                           self.feature[0])


def counter_key(schema: str, scope: str, project_id: int, account_id: int,
                feature_id: int) -> str:
    owner = f"p{project_id}" if scope == FeatureScope.PROJECT else f"a{account_id}"
    return f"tally:{schema}:quota:used:{owner}:f{feature_id}"


def _version_key(schema: str, kind: str = "quota") -> str:
    return f"tally:{schema}:{kind}:version"


_entries: dict[tuple[str, str, str], tuple[str, float, Entry]] = {}
# Every process-local cache versioned here (this one, accounts/api_key_cache.py's).
LOCAL_CACHES: list[dict] = [_entries]
_state = {"down_until": 0.0, "client": None, "url": None}
_lock = threading.Lock()


def _client(*, always: bool = False) -> redis.Redis | None:
    """This process's client (None while backing off after a failure, unless `always`:
    a version bump is tried even then, as one lost would leave others stale)."""
    if not always and time.monotonic() < _state["down_until"]:
        return None
    url = settings.TALLY_QUOTA_REDIS_URL or settings.REDIS_URL
    if _state["url"] != url:
        with _lock:
            _state["client"] = redis.Redis.from_url(
                url, socket_connect_timeout=0.2, socket_timeout=0.5)
            _state["url"] = url
    return _state["client"]


def failed(error: Exception) -> None:
    """Redis failed: read PostgreSQL for a while, and forget what this process cached
    (a version bump may have been lost meanwhile)."""
    log.warning("quota cache: Redis failed (%s); checks read PostgreSQL", error)
    _state["down_until"] = time.monotonic() + BACKOFF_SECONDS
    for entries in LOCAL_CACHES:
        entries.clear()


def cache_clear() -> None:
    """Forget this process's entries and any backoff (tests; a settings change)."""
    for entries in LOCAL_CACHES:
        entries.clear()
    _state.update(down_until=0.0, client=None, url=None)


def usable() -> redis.Redis | None:
    """Redis, when the cache may answer: not inside a transaction (its reads must see
    its own uncommitted writes, and a reservation's counter must not outlive a rollback)
    and not while backing off."""
    if connection.in_atomic_block or not settings.TALLY_QUOTA_CACHE:
        return None
    return _client()


# --- invalidation ---------------------------------------------------------------

def quota_cache_invalidate(kind: str = "quota") -> None:
    """Every write changing what a check reads calls this (signal receivers in
    accounts/quota_signals.py for saves and deletes, the services for bulk updates):
    after commit, the provider's version becomes a new token."""
    schema = connection.schema_name
    transaction.on_commit(lambda: _bump(schema, kind))


def _bump(schema: str, kind: str = "quota") -> None:
    try:
        _client(always=True).set(_version_key(schema, kind), secrets.token_hex(8))
    except redis.RedisError as error:
        # Other processes keep their entries until ENTRY_SECONDS; this one forgets now.
        failed(error)


def version_get(client: redis.Redis, schema: str, kind: str = "quota") -> str:
    key = _version_key(schema, kind)
    version = client.get(key)
    if version is None:  # never bumped, or Redis was flushed: a new version
        client.set(key, secrets.token_hex(8), nx=True)
        version = client.get(key)
    return version.decode()


# --- the check ------------------------------------------------------------------

def _load(project_name: str, feature_key: str) -> Entry:
    project = Project.objects.filter(name=project_name).values_list(
        "id", "organization_id").first()
    feature = Feature.objects.filter(key=feature_key).values_list(
        "id", "kind", "scope").first()
    if project is None or feature is None:
        return Entry(project=project, feature=feature)
    assignments = tuple(ProjectAccountAssignment.objects.filter(project_id=project[0])
                        .values_list("valid_from", "valid_to", "billing_account_id"))
    grants = tuple(FeatureGrant.objects.filter(
        feature_id=feature[0], billing_account_id__in={a[2] for a in assignments},
    ).values_list("billing_account_id", "enabled", "limit", "entitlement__start",
                  "entitlement__end"))
    return Entry(project=project, feature=feature, assignments=assignments, grants=grants)


def entry_get(client: redis.Redis, schema: str, project_name: str, feature_key: str,
              now: datetime) -> tuple[Entry, bytes | None]:
    """The entry for this version and its counter's raw value, in one round trip when
    the entry is current. Raises RedisError."""
    key = (schema, project_name, feature_key)
    hit = _entries.get(key)
    counter = hit[2].counter_key(schema, now) if hit is not None else None
    pipe = client.pipeline(transaction=False)
    pipe.get(_version_key(schema))
    if counter:
        pipe.hget(counter, "u")
    results = pipe.execute()
    version = results[0].decode() if results[0] is not None else None
    if hit is not None and version == hit[0] and hit[1] > time.monotonic():
        return hit[2], results[1] if counter else None
    version = version or version_get(client, schema)
    entry = _load(project_name, feature_key)
    if len(_entries) >= _MAX_ENTRIES:
        _entries.clear()
    _entries[key] = (version, time.monotonic() + ENTRY_SECONDS, entry)
    counter = entry.counter_key(schema, now)
    return entry, client.hget(counter, "u") if counter else None


def counter_seed(client: redis.Redis, key: str, *, scope: str, project_id: int,
                 account_id: int, feature_id: int) -> int:
    """Put PostgreSQL's reserved quantity in Redis when the counter is absent (another
    process may seed first: theirs is kept), as a new generation. Returns the counter's
    value."""
    column, owner, other = (("project_id", project_id, "billing_account_id")
                            if scope == FeatureScope.PROJECT
                            else ("billing_account_id", account_id, "project_id"))
    used = QuotaCounter.objects.filter(
        **{column: owner, f"{other}__isnull": True, "feature_id": feature_id},
    ).values_list("used", flat=True).first() or Decimal(0)
    value = client.eval(_SEED_LUA, 1, key, int(used * SCALE), secrets.token_hex(8),
                        COUNTER_SECONDS)
    return int(value)


def cached_row(project_name: str, feature_key: str, now: datetime):
    """(project id, organization id, check row) as accounts/quota.py's query reads
    them, from the cache: None for no such project, `MISS` when the cache cannot
    answer (the caller reads PostgreSQL)."""
    client = usable()
    if client is None:
        return MISS
    schema = connection.schema_name
    try:
        entry, raw = entry_get(client, schema, project_name, feature_key, now)
        if entry.project is None:
            return None
        if entry.feature is None:
            return entry.project, None
        account_id = entry.account_at(now)
        enabled, limit = entry.grant_at(account_id, now)
        counter = entry.counter_key(schema, now)
        used = Decimal(0)
        if counter:
            scaled = int(raw) if raw is not None else counter_seed(
                client, counter, scope=entry.feature[2], project_id=entry.project[0],
                account_id=account_id, feature_id=entry.feature[0])
            used = Decimal(scaled) / SCALE
    except redis.RedisError as error:
        failed(error)
        return MISS
    return entry.project, (*entry.feature, account_id, enabled, limit, used)


MISS = object()


# --- reservations ----------------------------------------------------------------

ADMITTED, REFUSED, UNGATED = "admitted", "refused", "ungated"


def admit(client: redis.Redis, key: str, units: int, limit: Decimal | None,
          seed: dict) -> tuple[str, int, bytes]:
    """Take `units` from the counter atomically (the Lua script), seeding it first when
    absent: (state, used in units, generation). UNGATED: the figures are too large for
    the script's exact arithmetic."""
    limit_units = -1 if limit is None else int(limit * SCALE)
    if units >= EXACT_BELOW or limit_units >= EXACT_BELOW:
        return UNGATED, 0, b""
    for _ in range(2):
        state, value, generation = client.eval(_ADMIT_LUA, 1, key, units, limit_units)
        if state == -1:
            counter_seed(client, key, **seed)
            continue
        if int(value) >= EXACT_BELOW:
            return UNGATED, 0, b""
        return (ADMITTED if state == 1 else REFUSED), int(value), generation
    return UNGATED, 0, b""  # expired between seeding and the script: let PostgreSQL decide


def _redis_call(script: str, key: str, *args) -> None:
    client = _client()
    if client is None:
        return
    try:
        client.eval(script, 1, key, *args)
    except redis.RedisError as error:
        failed(error)


def give_back(key: str, units: int, generation: bytes) -> None:
    """Undo an admission PostgreSQL did not commit."""
    _redis_call(_GIVE_BACK_LUA, key, units, generation)


def settle(key: str, generation: bytes) -> None:
    """After a gated reservation committed: if the counter was reseeded meanwhile, the
    seed may have missed it; drop the counter to be reseeded."""
    _redis_call(_SETTLE_LUA, key, generation)


def forget(key: str) -> None:
    _redis_call(_SETTLE_LUA, key, "")


def counter_forget_after_commit(key: str) -> None:
    """PostgreSQL's counter changed without Redis's (a release; a reservation Redis did
    not gate): drop Redis's after commit, to be reseeded on next use (rather than
    adjusted, so a reseed meanwhile cannot count the change twice)."""
    transaction.on_commit(lambda: forget(key))
