"""Writes of metering: ingesting usage events.

`usage_events_ingest` answers item by item exactly like lifecycle ingestion (accepted,
duplicate, refused with reasons, input order), is idempotent by event id and counts
its outcomes per day under the stream "usage". Usage is stored whether or not an
entitlement covers it: rating prices it, or reports it as unentitled.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction

from accounts.models import Project
from catalog.models import Aggregation, Metric
from core.fields import QUANTITY_DIGITS, QUANTITY_PLACES
from core.locks import usage_lock_shared
from cycles.services import cycles_ensure_for
from metering.domain.cloudevents import CLOUDEVENT_ERRORS
from metering.domain.lifecycle import iso
from metering.ingestion import (
    DUPLICATE,
    ERR_NOT_OBJECT,
    ERR_REQUIRED,
    ERR_UNKNOWN_PROJECT,
    ID_MAX,
    KEY_MAX,
    IngestionResult,
    Outcomes,
    accepted_instants,
    attributes_field,
    attributes_json,
    batch_check,
    batch_gate,
    calendar_refuse,
    field_differences,
    instant_parse,
    outcomes_finish,
    repeats_resolve,
    repeats_split,
    strings_named,
    text_field,
    timestamp_field,
)
from metering.late_events import LateItem, late_events_record
from metering.models import IngestionOutcome, UsageEvent
from metering.partitions import usage_partitions_ensure

STREAM_USAGE = "usage"
ERR_UNKNOWN_METRIC = "unknown metric {key!r}"
ERR_DURATION_METRIC = (
    "{key!r} is a resource type: its running time comes from lifecycle events "
    "(POST /api/v1/resources/events), not usage events"
)
ERR_VALUE = "must be a decimal number 0 or more (a string or a JSON number)"
ERR_VALUE_PRECISION = (
    f"must have at most {QUANTITY_PLACES} decimal places and "
    f"{QUANTITY_DIGITS - QUANTITY_PLACES} digits before the point"
)
USAGE_DUPLICATE_DIFFERENT = (
    "event {event_id!r} was already received with a different body ({differences}): "
    "the event first received is kept"
)


@dataclass(slots=True)
class _UsageItem:
    index: int
    event_id: str
    metric_id: int
    metric_key: str
    project_id: int
    project: str
    at: datetime
    value: Decimal
    attributes: dict


def _usage_value(raw: dict, errors: dict) -> Decimal | None:
    value = raw.get("value")
    if value is None:
        errors["value"] = [ERR_REQUIRED]
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        errors["value"] = [ERR_VALUE]
        return None
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        errors["value"] = [ERR_VALUE]
        return None
    if not number.is_finite() or number < 0:
        errors["value"] = [ERR_VALUE]
        return None
    exponent = number.normalize().as_tuple().exponent
    if (-exponent > QUANTITY_PLACES
            or number >= Decimal(10) ** (QUANTITY_DIGITS - QUANTITY_PLACES)):
        errors["value"] = [ERR_VALUE_PRECISION]
        return None
    return number


def _parse_usage(items: list, outcomes: Outcomes) -> list[_UsageItem]:
    """The well-formed items; the others get their refusal in `outcomes`.

    Each item first tries the fast path, which takes only items of the common shape
    and gives them exactly what the detailed path would; anything else (a refusal, a
    value or instant in an unusual form) goes through the detailed path, which words
    the reasons. Instants are parsed once per distinct text in the batch."""
    items = batch_gate(items, outcomes)
    keys = strings_named(items, "metric")
    metrics = {
        key: (pk, aggregation) for pk, key, aggregation in
        Metric.objects.filter(key__in=keys).values_list("id", "key", "aggregation")
    } if keys else {}
    names = strings_named(items, "project")
    projects = dict(Project.objects.filter(name__in=names).values_list("name", "id")
                    ) if names else {}
    # Only names the detailed path would take as they are (valid text, usage metric).
    metric_ids = {key: pk for key, (pk, aggregation) in metrics.items()
                  if 0 < len(key) <= KEY_MAX and aggregation != Aggregation.DURATION}
    project_ids = {name: pk for name, pk in projects.items() if 0 < len(name) <= KEY_MAX}
    instants: dict[str, datetime] = {}
    parsed = []
    for index, raw in enumerate(items):
        if raw is None:  # refused by the gate
            continue
        item = _usage_fast(index, raw, metric_ids, project_ids, instants)
        if item is None:
            item = _usage_detailed(index, raw, metrics, projects, outcomes)
        if item is not None:
            parsed.append(item)
    return parsed


# A value the fast path reads as it is: plain digits, at most as many as the column
# holds before and after the point. Anything else (signs, exponents, spaces,
# underscores, other scripts' digits) is left to the detailed path.
_PLAIN_VALUE = re.compile(
    rf"[0-9]{{1,{QUANTITY_DIGITS - QUANTITY_PLACES}}}(?:\.[0-9]{{1,{QUANTITY_PLACES}}})?"
)
_VALUE_LIMIT = 10 ** (QUANTITY_DIGITS - QUANTITY_PLACES)


def _usage_fast(index: int, raw, metric_ids: dict[str, int], project_ids: dict[str, int],
                instants: dict[str, datetime]) -> _UsageItem | None:
    """The item of a well-formed event in the common shape, or None (then the detailed
    path decides). Never accepts what the detailed path refuses, nor reads a field
    differently: exact types only, names already checked, plain values."""
    if type(raw) is not dict or CLOUDEVENT_ERRORS in raw:
        return None
    event_id = raw.get("event_id")
    metric = raw.get("metric")
    project = raw.get("project")
    text = raw.get("occurred_at")
    if (type(event_id) is not str or not 0 < len(event_id) <= ID_MAX
            or type(metric) is not str or type(project) is not str or type(text) is not str):
        return None
    metric_id = metric_ids.get(metric)
    project_id = project_ids.get(project)
    if metric_id is None or project_id is None:
        return None
    at = instants.get(text)
    if at is None:
        at = instant_parse(text)
        if isinstance(at, str):
            return None
        instants[text] = at
    value = raw.get("value")
    if type(value) is str or type(value) is Decimal:  # a JSON number with a fraction
        if _PLAIN_VALUE.fullmatch(str(value)) is None:
            return None
    elif type(value) is not int or not 0 <= value < _VALUE_LIMIT:
        return None
    attributes = raw.get("attributes")
    if attributes is None:
        attributes = {}
    elif type(attributes) is not dict:
        return None
    return _UsageItem(index, event_id, metric_id, metric, project_id, project, at,
                      Decimal(value), attributes)


def _usage_detailed(index: int, raw, metrics: dict[str, tuple[int, str]],
                    projects: dict[str, int], outcomes: Outcomes) -> _UsageItem | None:
    """One item checked field by field: the item, or None with its refusal (every
    field's reasons) set in `outcomes`."""
    if not isinstance(raw, dict):
        outcomes.set(index, None, IngestionOutcome.REFUSED, ERR_NOT_OBJECT)
        return None
    errors: dict[str, list[str]] = dict(raw.get(CLOUDEVENT_ERRORS) or {})
    event_id = text_field(raw, "event_id", errors, max_length=ID_MAX)
    metric_key = text_field(raw, "metric", errors)
    metric = metrics.get(metric_key) if metric_key else None
    if metric_key is not None and metric is None:
        errors["metric"] = [ERR_UNKNOWN_METRIC.format(key=metric_key)]
    elif metric is not None and metric[1] == Aggregation.DURATION:
        errors["metric"] = [ERR_DURATION_METRIC.format(key=metric_key)]
    project = text_field(raw, "project", errors)
    if project is not None and project not in projects:
        errors["project"] = [ERR_UNKNOWN_PROJECT.format(name=project)]
    at = timestamp_field(raw, errors)
    value = _usage_value(raw, errors)
    attributes = attributes_field(raw, errors)
    if errors:
        outcomes.refuse_fields(index, raw, errors)
        return None
    return _UsageItem(
        index=index, event_id=event_id, metric_id=metric[0], metric_key=metric_key,
        project_id=projects[project], project=project, at=at, value=value,
        attributes=attributes,
    )


def _usage_differences(item: _UsageItem, metric: str, project: str, at: datetime,
                       value: Decimal) -> str:
    return field_differences([
        ("metric", metric, item.metric_key, repr),
        ("project", project, item.project, repr),
        ("occurred_at", at, item.at, iso),
        ("value", value, item.value, lambda v: format(v.normalize(), "f")),
    ])


def _usage_duplicate(item: _UsageItem, found) -> str:
    differences = _usage_differences(item, *found)
    if differences:
        return USAGE_DUPLICATE_DIFFERENT.format(event_id=item.event_id, differences=differences)
    return DUPLICATE.format(event_id=item.event_id)


def usage_events_ingest(*, items: list, now: datetime) -> IngestionResult:
    """Store a batch of usage events; one outcome per item, in input order.

    Raises ValidationError only for the batch as a whole (not a list, more than
    MAX_BATCH items). A re-sent id is a duplicate (a no-op), even with another body.
    An event the billing calendar cannot take is refused (beyond the future horizon,
    before the billing start, in a finalized cycle: kept in the late-usage report).
    The months of accepted events get their cycles. A bounded number of queries per
    batch.
    """
    batch_check(items)
    outcomes = Outcomes(len(items))
    first_of, repeats = repeats_split(_parse_usage(items, outcomes))
    fresh = _mark_stored_duplicates(first_of, outcomes)
    usage_partitions_ensure(table=UsageEvent._meta.db_table, instants={i.at for i in fresh})
    with transaction.atomic():
        usage_lock_shared()
        fresh, late = calendar_refuse(fresh, outcomes, now=now)
        late_events_record(stream=STREAM_USAGE, items=[_late(i, c) for i, c in late], now=now)
        inserted = _insert_usage(fresh, now)
        for item in fresh:
            if item.event_id in inserted:
                outcomes.accept(item.index, item.event_id)
            else:  # stored by a concurrent batch since the duplicate check
                outcomes.set(item.index, item.event_id, IngestionOutcome.DUPLICATE,
                             DUPLICATE.format(event_id=item.event_id))
        cycles_ensure_for(instants=accepted_instants(fresh, outcomes), now=now)
        repeats_resolve(repeats, outcomes, _repeat_differences)
        return outcomes_finish(outcomes, now=now, stream=STREAM_USAGE)


def _late(item: _UsageItem, cycle: str) -> LateItem:
    value = format(item.value.normalize(), "f")
    return LateItem(
        event_id=item.event_id, occurred_at=item.at, cycle=cycle, project=item.project,
        subject=item.metric_key, summary=f"{item.metric_key} = {value}",
        details={"metric": item.metric_key, "value": value, "attributes": item.attributes},
    )


def _mark_stored_duplicates(items: list[_UsageItem], outcomes: Outcomes) -> list[_UsageItem]:
    """Items whose id is already stored get their duplicate outcome; the others, kept."""
    stored = _stored_usage([i.event_id for i in items])
    fresh = []
    for item in items:
        if item.event_id in stored:
            outcomes.set(item.index, item.event_id, IngestionOutcome.DUPLICATE,
                         _usage_duplicate(item, stored[item.event_id]))
        else:
            fresh.append(item)
    return fresh


def _repeat_differences(item: _UsageItem, first: _UsageItem) -> str:
    return _usage_differences(item, first.metric_key, first.project, first.at, first.value)


def _stored_usage(event_ids: list[str]) -> dict[str, tuple]:
    """Stored events among `event_ids`: id -> (metric key, project name, instant, value).

    The ids table first: every stored event's id is claimed there (a foreign key,
    migration 0005), so an id it lacks is new, found with one probe of one index,
    whatever the number of month partitions and however large they grow; that page
    is the one the claim then writes. Only the ids it holds are looked up in the
    partitions. Each id is probed in a lateral subquery (`OFFSET 0` keeps it one)
    so no plan can turn the lookup into a scan: an array compared with `= ANY(...)`
    was at the mercy of statistics that lag behind a growing month (a seq scan of the
    partition per batch), and the plain partition probes outgrew the buffer cache
    once a month held 1.7 M events (bench/RESULTS.md §1)."""
    if not event_ids:
        return {}
    table = UsageEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT e.event_id, m.key, p.name, e.occurred_at, e.value
            FROM json_array_elements_text(%s::json) AS i(event_id)
            CROSS JOIN LATERAL (
                SELECT c.event_id FROM {table}_ids c WHERE c.event_id = i.event_id OFFSET 0
            ) claimed
            CROSS JOIN LATERAL (
                SELECT event_id, metric_id, project_id, occurred_at, value
                FROM {table}
                WHERE event_id = claimed.event_id
                OFFSET 0
            ) e
            JOIN {Metric._meta.db_table} m ON m.id = e.metric_id
            JOIN {Project._meta.db_table} p ON p.id = e.project_id
            """,
            [json.dumps(event_ids)],
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


# Named by migration 0003 (the partitions carry them under the same names).
_USAGE_FOREIGN_KEYS = (
    "metering_usageevent_metric_id_ea9803d2_fk_catalog_metric_id, "
    "metering_usageevent_project_id_d5ea30fb_fk_accounts_project_id"
)


_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def _insert_usage(items: list[_UsageItem], now: datetime) -> set[str]:
    """Store `items` in one statement; the ids actually stored (not claimed meanwhile).

    The batch travels as one JSON document unpacked by PostgreSQL
    (json_to_recordset): binding six arrays of a thousand values each was a third
    of the Python time of a batch (profiled). Values and instants travel as text,
    so no precision is lost; each distinct instant is written once, and empty
    attributes not at all. Ids are claimed in id order: batches sharing ids never
    deadlock."""
    if not items:
        return set()
    table = UsageEvent._meta.db_table
    texts: dict[datetime, str] = {}
    rows = []
    for i in items:
        at = texts.get(i.at)
        if at is None:
            at = texts[i.at] = i.at.isoformat()
        row = {"e": i.event_id, "m": i.metric_id, "p": i.project_id, "t": at, "v": str(i.value)}
        if i.attributes:
            row["a"] = attributes_json(i.attributes)
        rows.append(row)
    with connection.cursor() as cursor:
        # The foreign keys to metric and project are deferred: checked in the insert,
        # not at commit (7 ms a batch), where the day's counter row, the transaction's
        # last write, would stay locked against concurrent batches. Deferred again
        # after it, for whatever else an enclosing transaction writes.
        cursor.execute(f"SET CONSTRAINTS {_USAGE_FOREIGN_KEYS} IMMEDIATE")
        cursor.execute(
            f"""
            WITH v AS (
                SELECT r.e AS event_id, r.m AS metric_id, r.p AS project_id,
                       r.t::timestamptz AS occurred_at, r.v::numeric AS value,
                       coalesce(r.a::jsonb, '{{}}'::jsonb) AS attributes
                FROM json_to_recordset(%s::json)
                    AS r(e text, m bigint, p bigint, t text, v text, a text)
            ), claimed AS (
                INSERT INTO {table}_ids (event_id) SELECT event_id FROM v ORDER BY event_id
                ON CONFLICT DO NOTHING
                RETURNING event_id
            )
            INSERT INTO {table}
                (event_id, metric_id, project_id, occurred_at, value, attributes, received_at)
            SELECT v.event_id, v.metric_id, v.project_id, v.occurred_at, v.value,
                   v.attributes, %s
            FROM v JOIN claimed USING (event_id)
            RETURNING event_id
            """,
            [_compact_json(rows), now],
        )
        inserted = {row[0] for row in cursor.fetchall()}
        cursor.execute(f"SET CONSTRAINTS {_USAGE_FOREIGN_KEYS} DEFERRED")
        return inserted
