"""Entitlement checks and quota reservations: may a project use a feature (or this much
more of a quota) now, and reserving or releasing quota atomically on a counter row.

The check is the hottest call there is: answered from accounts/quota_cache.py (one
Redis round trip) when it can, else one query; never a usage scan.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import redis
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from accounts import quota_cache
from accounts.models import (
    Entitlement,
    FeatureGrant,
    Project,
    ProjectAccountAssignment,
    QuotaCounter,
)
from catalog.models import Feature, FeatureKind, FeatureScope
from core.errors import Conflict

QUANTITY_INVALID = "must be a decimal number greater than zero"
FEATURE_IS_FLAG = "{feature!r} is a flag: there is nothing to reserve"
RELEASE_TOO_MUCH = "cannot release {quantity}: only {used} of {feature!r} is reserved"

# Reasons a check gives (stable codes; the message says it in words).
ALLOWED = "allowed"
UNKNOWN_FEATURE = "unknown_feature"
NO_BILLING_ACCOUNT_NOW = "no_billing_account"
NOT_ENTITLED = "not_entitled"
QUOTA_EXCEEDED = "quota_exceeded"
REASON_TEXT = {
    ALLOWED: "allowed by the billing account's entitlement",
    UNKNOWN_FEATURE: "no feature {feature!r}",
    NO_BILLING_ACCOUNT_NOW: "project {project!r} bills to no billing account now",
    NOT_ENTITLED: "no active entitlement of the project's billing account enables {feature!r}",
    QUOTA_EXCEEDED: "{quantity} more would exceed the limit of {feature!r}",
}


@dataclass(frozen=True)
class QuotaAnswer:
    """What a check or a reservation answers: allowed or not, why, and what remains."""

    allowed: bool
    reason: str
    message: str
    project: str
    feature: str
    kind: str | None = None
    scope: str | None = None
    billing_account_id: int | None = None
    limit: Decimal | None = None
    used: Decimal | None = None
    remaining: Decimal | None = None
    reserved: Decimal | None = None


# {project} is the project's id: a parameter, or a column of an enclosing query.
_CHECK_SQL = """
    SELECT f.id, f.kind, f.scope, a.billing_account_id,
           COALESCE(g.enabled AND e.start <= %(now)s AND (e."end" IS NULL OR e."end" > %(now)s),
                    false),
           g."limit",
           COALESCE(CASE WHEN f.scope = 'project' THEN cp.used ELSE ca.used END, 0)
    FROM {feature} f
    LEFT JOIN {assignment} a ON a.project_id = {project} AND a.valid_from <= %(now)s
         AND (a.valid_to IS NULL OR a.valid_to > %(now)s)
    LEFT JOIN {grant} g ON g.billing_account_id = a.billing_account_id AND g.feature_id = f.id
    LEFT JOIN {entitlement} e ON e.id = g.entitlement_id
    LEFT JOIN {counter} ca ON ca.billing_account_id = a.billing_account_id
         AND ca.feature_id = f.id AND ca.project_id IS NULL
    LEFT JOIN {counter} cp ON cp.project_id = {project} AND cp.feature_id = f.id
         AND cp.billing_account_id IS NULL
    WHERE f.key = %(feature_key)s
"""

# The project found by name and the check, in one round trip; a project without the
# feature gives one row of NULLs after the project's columns.
_CHECK_NAMED_SQL = """
    SELECT p.id, p.organization_id, c.*
    FROM {project_table} p
    LEFT JOIN LATERAL ({check}) c ON true
    WHERE p.name = %(project_name)s
"""


def _tables() -> dict[str, str]:
    return {"feature": Feature._meta.db_table,
            "assignment": ProjectAccountAssignment._meta.db_table,
            "grant": FeatureGrant._meta.db_table, "counter": QuotaCounter._meta.db_table,
            "entitlement": Entitlement._meta.db_table}


def _quantity(quantity, *, required: bool) -> Decimal | None:
    if quantity is None and not required:
        return None
    if isinstance(quantity, bool) or not isinstance(quantity, Decimal | int | str):
        raise ValidationError({"quantity": [QUANTITY_INVALID]})
    try:
        number = Decimal(quantity) if not isinstance(quantity, Decimal) else quantity
    except ArithmeticError:
        raise ValidationError({"quantity": [QUANTITY_INVALID]}) from None
    if not number.is_finite() or number <= 0:
        raise ValidationError({"quantity": [QUANTITY_INVALID]})
    return number


def _answer(project: Project, feature_key: str, row, quantity: Decimal | None,
            reserved: Decimal | None = None, reason: str | None = None) -> QuotaAnswer:
    common = {"project": project.name, "feature": feature_key}
    if row is None:
        return QuotaAnswer(allowed=False, reason=UNKNOWN_FEATURE, **common,
                           message=REASON_TEXT[UNKNOWN_FEATURE].format(feature=feature_key))
    _, kind, scope, account_id, enabled, limit, used = row
    common.update(kind=kind, scope=scope, billing_account_id=account_id)
    if account_id is None:
        return QuotaAnswer(allowed=False, reason=NO_BILLING_ACCOUNT_NOW, **common,
                           message=REASON_TEXT[NO_BILLING_ACCOUNT_NOW].format(
                               project=project.name))
    if not enabled:
        return QuotaAnswer(allowed=False, reason=NOT_ENTITLED, **common,
                           message=REASON_TEXT[NOT_ENTITLED].format(feature=feature_key))
    if kind == FeatureKind.FLAG:
        return QuotaAnswer(allowed=True, reason=ALLOWED, message=REASON_TEXT[ALLOWED], **common)
    remaining = None if limit is None else max(limit - used, Decimal(0))
    wanted = quantity if quantity is not None else Decimal(1)
    allowed = reason != QUOTA_EXCEEDED and (remaining is None or wanted <= remaining)
    code = ALLOWED if allowed else QUOTA_EXCEEDED
    return QuotaAnswer(
        allowed=allowed, reason=code, **common,
        message=REASON_TEXT[code].format(feature=feature_key, quantity=wanted),
        limit=limit, used=used, remaining=remaining, reserved=reserved,
    )


def _read(project: Project, feature_key: str, now: datetime):
    with connection.cursor() as cursor:
        cursor.execute(_CHECK_SQL.format(project="%(project)s", **_tables()),
                       {"project": project.pk, "now": now, "feature_key": feature_key})
        return cursor.fetchone()


def quota_check(*, project: Project, feature_key: str, now: datetime,
                quantity=None) -> QuotaAnswer:
    """May `project` use `feature_key` (and `quantity` more of a quota) now? One query,
    no usage scan: the account's feature grant and the counter row."""
    quantity = _quantity(quantity, required=False)
    cached = quota_cache.cached_row(project.name, feature_key, now)
    if cached is not quota_cache.MISS and cached is not None:
        return _answer(project, feature_key, cached[1], quantity)
    return _answer(project, feature_key, _read(project, feature_key, now), quantity)


def quota_check_named(*, project_name: str, feature_key: str, now: datetime,
                      visible: Callable[[Project], bool], quantity=None) -> QuotaAnswer | None:
    """quota_check for the project called `project_name`: from the cache
    (accounts/quota_cache.py) when it can answer, else in one query. None when no such
    project exists or `visible` says the caller may not see it (the API answers 404
    either way)."""
    quantity = _quantity(quantity, required=False)
    cached = quota_cache.cached_row(project_name, feature_key, now)
    if cached is not quota_cache.MISS:
        if cached is None:
            return None
        (project_id, organization_id), found = cached
        project = Project(id=project_id, name=project_name, organization_id=organization_id)
        return _answer(project, feature_key, found, quantity) if visible(project) else None
    check = _CHECK_SQL.format(project="p.id", **_tables())
    with connection.cursor() as cursor:
        cursor.execute(
            _CHECK_NAMED_SQL.format(project_table=Project._meta.db_table, check=check),
            {"project_name": project_name, "now": now, "feature_key": feature_key})
        row = cursor.fetchone()
    if row is None:
        return None
    project = Project(id=row[0], name=project_name, organization_id=row[1])
    if not visible(project):
        return None
    found = row[2:] if row[2] is not None else None  # the feature's id is never NULL
    return _answer(project, feature_key, found, quantity)


def _counter_target(project: Project, scope: str, account_id: int):
    return (("project_id", project.pk, "billing_account_id") if scope == FeatureScope.PROJECT
            else ("billing_account_id", account_id, "project_id"))


class _Gate(NamedTuple):
    state: str
    key: str
    units: int = 0
    used: int = 0  # units
    generation: bytes = b""


def _gate(client, project: Project, row, quantity: Decimal) -> _Gate:
    """Take `quantity` from the Redis counter (accounts/quota_cache.py); UNGATED when
    Redis cannot gate this one."""
    feature_id, _, scope, account_id, _, limit = row[:6]
    key = quota_cache.counter_key(connection.schema_name, scope, project.pk, account_id,
                                  feature_id)
    units = int(quantity * quota_cache.SCALE)
    if client is None:
        return _Gate(quota_cache.UNGATED, key)
    seed = {"scope": scope, "project_id": project.pk, "account_id": account_id,
            "feature_id": feature_id}
    try:
        state, used, generation = quota_cache.admit(client, key, units, limit, seed)
    except redis.RedisError as error:
        quota_cache.failed(error)
        return _Gate(quota_cache.UNGATED, key)
    return _Gate(state, key, units, used, generation)


def quota_reserve(*, project: Project, feature_key: str, quantity, now: datetime
                  ) -> QuotaAnswer:
    """Reserve `quantity` of a quota for `project`, atomically: one conditional UPDATE
    (`used + n <= limit`) on the counter row, so concurrent reservations serialize on
    the row and never exceed the limit. Not allowed: nothing is reserved.

    Outside a caller's transaction, Redis's counter (which checks read) is taken from
    first, by a Lua script that refuses past the limit. PostgreSQL's UPDATE stays the
    record and the last word: when it refuses what Redis admitted, Redis's counter was
    short (a reseed missed an uncommitted reservation) and is dropped, to be reseeded;
    when the transaction fails, the units are given back; after commit, a counter
    reseeded meanwhile is dropped (accounts/quota_cache.py `settle`). A reservation
    Redis did not gate drops Redis's counter after commit."""
    quantity = _quantity(quantity, required=True)
    client = quota_cache.usable()
    gate = None
    try:
        with transaction.atomic():
            row = _read(project, feature_key, now)
            answer = _answer(project, feature_key, row, quantity)
            if row is not None and row[1] == FeatureKind.FLAG and row[4]:
                raise ValidationError({"feature": [FEATURE_IS_FLAG.format(
                    feature=feature_key)]})
            if not answer.allowed:
                return answer
            gate = _gate(client, project, row, quantity)
            if gate.state == quota_cache.REFUSED:
                used = Decimal(gate.used) / quota_cache.SCALE
                return _answer(project, feature_key, (*row[:6], used), quantity,
                               reason=QUOTA_EXCEEDED)
            updated = _counter_add(project, row, quantity, now)
            if updated is None:
                if gate.state == quota_cache.ADMITTED:
                    quota_cache.forget(gate.key)
                    gate = None
                # Another reservation took what was left (or the grant changed) meanwhile.
                return _answer(project, feature_key, _read(project, feature_key, now),
                               quantity, reason=QUOTA_EXCEEDED)
            if gate.state != quota_cache.ADMITTED:
                quota_cache.counter_forget_after_commit(gate.key)
    except BaseException:
        if gate is not None and gate.state == quota_cache.ADMITTED:
            quota_cache.give_back(gate.key, gate.units, gate.generation)
        raise
    if gate.state == quota_cache.ADMITTED:
        quota_cache.settle(gate.key, gate.generation)
    after = _answer(project, feature_key, (*row[:6], updated), None, reserved=quantity)
    return QuotaAnswer(**{**after.__dict__, "allowed": True, "reason": ALLOWED,
                          "message": REASON_TEXT[ALLOWED]})


def _counter_add(project: Project, row, quantity: Decimal, now: datetime) -> Decimal | None:
    """PostgreSQL's conditional UPDATE: the new `used`, or None when it would pass the
    limit."""
    tables = _tables()
    feature_id, _, scope, account_id = row[:4]
    column, scope_id, other = _counter_target(project, scope, account_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {tables['counter']} ({column}, feature_id, used, updated_at)
                VALUES (%s, %s, 0, %s)
                ON CONFLICT ({column}, feature_id) WHERE {other} IS NULL DO NOTHING""",
            [scope_id, feature_id, now])
        cursor.execute(
            f"""UPDATE {tables['counter']} c SET used = c.used + %(n)s, updated_at = %(now)s
                FROM {tables['grant']} g
                WHERE c.{column} = %(scope)s AND c.feature_id = %(feature)s
                  AND c.{other} IS NULL
                  AND g.billing_account_id = %(account)s AND g.feature_id = %(feature)s
                  AND g.enabled AND (g."limit" IS NULL OR c.used + %(n)s <= g."limit")
                RETURNING c.used""",
            {"n": quantity, "now": now, "scope": scope_id, "feature": feature_id,
             "account": account_id})
        updated = cursor.fetchone()
    return None if updated is None else updated[0]


def quota_release(*, project: Project, feature_key: str, quantity, now: datetime
                  ) -> QuotaAnswer:
    """Give back `quantity` of a reserved quota (a zone deleted); never below zero."""
    quantity = _quantity(quantity, required=True)
    tables = _tables()
    with transaction.atomic():
        row = _read(project, feature_key, now)
        if row is None:
            raise ValidationError({"feature": [REASON_TEXT[UNKNOWN_FEATURE].format(
                feature=feature_key)]})
        feature_id, kind, scope, account_id = row[:4]
        if kind == FeatureKind.FLAG:
            raise ValidationError({"feature": [FEATURE_IS_FLAG.format(feature=feature_key)]})
        column, scope_id, other = _counter_target(project, scope, account_id)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE {tables['counter']} SET used = used - %(n)s, updated_at = %(now)s
                    WHERE {column} = %(scope)s AND feature_id = %(feature)s
                      AND {other} IS NULL AND used >= %(n)s
                    RETURNING used""",
                {"n": quantity, "now": now, "scope": scope_id, "feature": feature_id})
            updated = cursor.fetchone()
        if updated is None:
            raise Conflict({"quantity": [RELEASE_TOO_MUCH.format(
                quantity=quantity, used=row[6], feature=feature_key)]})
        quota_cache.counter_forget_after_commit(quota_cache.counter_key(
            connection.schema_name, scope, project.pk, account_id, feature_id))
        return _answer(project, feature_key, (*row[:6], updated[0]), None)
