"""Writes of metering: ingesting resource lifecycle events.

`lifecycle_events_ingest` takes a batch of events from another system and
stores every event it can: each item gets its own outcome (accepted, duplicate
or refused, with the reason), in input order. A batch is never all-or-nothing,
and an item is never stored in part.

How a batch flows, and why (the hot path: later target 25,000 events/s):
1. Parse and validate every item in Python against the catalog (resource types,
   variants, regions) and the projects it names, loaded once per batch.
2. Report event ids already stored (or repeated in the batch) as duplicates;
   refuse events inside a finalized billing cycle.
3. In one transaction: lock the touched resources (`SELECT ... FOR UPDATE`,
   ordered by resource_id so concurrent batches cannot deadlock on them),
   load all their events in one query, and check each resource's new events,
   in timeline order, against its stored ones (`metering.domain.lifecycle`).
4. Insert new resources (`ON CONFLICT (resource_id) DO NOTHING`: a resource
   created meanwhile by a concurrent batch is re-read, locked and re-checked)
   and the accepted events (`ON CONFLICT (event_id) DO NOTHING`: an id stored
   meanwhile by a concurrent batch is reported as a duplicate, not an error),
   and count the outcomes in `IngestionDay`.

The number of queries per batch is bounded (about fifteen) whatever its size.

Every event describes its resource in full: type, project, region, service
class (default standard) and parent (default none). A resource never changes
those; its variant changes only through `resized` events. `attributes` are
merged into the resource's attributes (later events in timeline order win).
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from accounts.models import Project
from catalog.models import Aggregation, Metric, Region, ServiceClass, Variant
from core.locks import usage_lock_shared
from cycles.guard import finalized_boundary
from metering.domain.lifecycle import Timeline, TimelineEvent, iso, timeline_key
from metering.models import IngestionDay, IngestionOutcome, LifecycleEvent, LifecycleKind, Resource

MAX_BATCH = 5000
STREAM_LIFECYCLE = "lifecycle"
ID_MAX = 200
KEY_MAX = 100

# The batch as a whole (a 400 at the API).
ERR_NOT_A_LIST = "events must be a JSON array of event objects"
ERR_TOO_MANY = "at most {max} events per batch, got {count}: split the batch"

# One item's fields.
ERR_NOT_OBJECT = "each event must be a JSON object"
ERR_REQUIRED = "is required"
ERR_TEXT = "must be a non-empty string of at most {max} characters"
ERR_KIND = "must be one of: created, started, stopped, resized, deleted"
ERR_UNKNOWN_TYPE = "unknown resource type {key!r}"
ERR_NOT_A_RESOURCE_TYPE = (
    "{key!r} is a metric aggregated by {aggregation}, not a resource type (running time)"
)
ERR_UNKNOWN_VARIANT = "unknown variant {variant!r} of resource type {type!r}"
ERR_UNKNOWN_PROJECT = "unknown project {name!r}"
ERR_UNKNOWN_REGION = "unknown region {key!r}"
ERR_SERVICE_CLASS = "must be one of: standard, spot"
ERR_TIMESTAMP = "must be an ISO-8601 timestamp with a UTC offset, e.g. 2020-10-01T00:00:00Z"
ERR_NAIVE = "has no UTC offset (add Z or +hh:mm): a time without one is ambiguous"
ERR_ATTRIBUTES = "must be a JSON object"
ERR_PARENT_SELF = "a resource cannot depend on itself"
ERR_PARENT_UNKNOWN = (
    "unknown parent resource {parent!r}: it must exist or be created in the same batch"
)
ERR_PARENT_CYCLE = "resources {resources} depend on each other in a cycle"

# One item against what is stored.
DUPLICATE = "event {event_id!r} was already received"
DUPLICATE_DIFFERENT = (
    "event {event_id!r} was already received with a different body ({differences}): "
    "the event first received is kept"
)
DUPLICATE_IN_BATCH = "event {event_id!r} repeats item {index} of this batch"
DUPLICATE_IN_BATCH_REFUSED = (
    "event {event_id!r} repeats item {index} of this batch, which was refused"
)
RESOURCE_DISAGREES = (
    "resource {resource!r} has {field} {stored!r}, not {given!r}: "
    "a resource never changes its {field}"
)
RESOURCE_DISAGREES_IN_BATCH = (
    "resource {resource!r} is given {field} {first!r} by item {index} and {given!r} here: "
    "a resource never changes its {field}"
)

_KINDS = frozenset(LifecycleKind.values)
_CLASSES = frozenset(ServiceClass.values)
# What an event says about its resource: (label in reasons, attribute of _Item).
_SPEC_FIELDS = (
    ("type", "metric_key"),
    ("project", "project"),
    ("region", "region"),
    ("service class", "service_class"),
    ("parent", "parent_resource_id"),
)


@dataclass(frozen=True, slots=True)
class IngestionResult:
    """Per-item outcomes in input order, and their counts.

    Each item: {"index", "event_id", "status": accepted|duplicate|refused,
    "reason" (duplicate and refused), "fields" (refused for bad fields:
    {field: [reasons]})}.
    """

    items: list[dict[str, Any]]
    accepted: int
    duplicate: int
    refused: int


@dataclass(slots=True)
class _Item:
    """A well-formed event of the batch."""

    index: int
    event_id: str
    resource_id: str
    kind: str
    metric_id: int
    metric_key: str
    variant: str
    project_id: int
    project: str
    region: str
    service_class: str
    parent_resource_id: str | None
    at: datetime
    attributes: dict


@dataclass(slots=True)
class _Stored:
    """A stored resource, as far as validation needs it."""

    pk: int
    resource_id: str
    metric_key: str
    project: str
    region: str
    service_class: str
    parent_resource_id: str | None
    variant: str
    attributes: dict
    events: list[TimelineEvent] = field(default_factory=list)


@dataclass(slots=True)
class _Decision:
    """What one resource's items of this batch come to."""

    accepted: list[_Item]
    refused: dict[int, str]
    duplicates: dict[int, str]  # stored by a concurrent batch since the duplicate check
    variant: str | None  # variant after all its events, None if no event accepted
    attributes: dict


class _Outcomes:
    def __init__(self, size: int) -> None:
        self.rows: list[dict[str, Any] | None] = [None] * size

    def set(self, index: int, event_id, status: str, reason: str | None = None,
            fields: dict[str, list[str]] | None = None, error: dict | None = None) -> None:
        row: dict[str, Any] = {"index": index, "event_id": event_id, "status": str(status)}
        if reason is not None:
            row["reason"] = reason
        if fields:
            row["fields"] = fields
        if error:
            # The error envelope's body, as a single write would get it (cycle_finalized).
            row["error"] = error
        self.rows[index] = row

    def accept(self, index: int, event_id: str) -> None:
        """`set(index, event_id, ACCEPTED)`, at the cost of one dict: most items."""
        self.rows[index] = {"index": index, "event_id": event_id, "status": _ACCEPTED}


_ACCEPTED = IngestionOutcome.ACCEPTED.value


def lifecycle_events_ingest(*, items: list[dict], now: datetime) -> IngestionResult:
    """Store a batch of lifecycle events; see the module docstring for the rules.

    Raises ValidationError only for the batch as a whole (not a list, more than
    MAX_BATCH items); every problem with one item is that item's outcome.
    """
    if not isinstance(items, list):
        raise ValidationError({"events": [ERR_NOT_A_LIST]})
    if len(items) > MAX_BATCH:
        raise ValidationError({"events": [ERR_TOO_MANY.format(max=MAX_BATCH, count=len(items))]})
    outcomes = _Outcomes(len(items))
    parsed = _parse_all(items, outcomes)
    first_of, repeats = _split_repeats(parsed)
    # Duplicates before the finalized check: re-sending an old batch after its
    # cycle closed is still a no-op, reported as duplicate.
    fresh = _mark_stored_duplicates(first_of, outcomes)
    usage_partitions_ensure(table=LifecycleEvent._meta.db_table,
                            instants=[item.at for item in fresh])

    with transaction.atomic():
        # Held until commit: closing a cycle waits for this batch, and this batch
        # sees a cycle that turned closing before it started (billing/locks.py).
        usage_lock_shared()
        fresh = _refuse_finalized(fresh, outcomes)
        if fresh:
            _store(fresh, outcomes, now)
        _resolve_repeats(repeats, outcomes)
        counts = {status: 0 for status in IngestionOutcome.values}
        for row in outcomes.rows:
            counts[row["status"]] += 1
        if items:
            _count_day(now, counts)
    return IngestionResult(
        items=outcomes.rows,
        accepted=counts[IngestionOutcome.ACCEPTED],
        duplicate=counts[IngestionOutcome.DUPLICATE],
        refused=counts[IngestionOutcome.REFUSED],
    )


# --- 1. parsing -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Catalog:
    metrics: dict[str, tuple[int, str]]  # key -> (id, aggregation)
    variants: set[tuple[int, str]]
    regions: set[str]
    projects: dict[str, int]


def _strings(items: list, name: str) -> set[str]:
    return {
        item[name] for item in items
        if isinstance(item, dict) and isinstance(item.get(name), str)
    }


def _load_catalog(items: list) -> _Catalog:
    """What the batch names, in at most four queries (none for names it never uses)."""
    type_keys = _strings(items, "resource_type")
    metrics = {
        key: (pk, aggregation)
        for pk, key, aggregation in Metric.objects.filter(key__in=type_keys).values_list(
            "id", "key", "aggregation"
        )
    } if type_keys else {}
    duration_ids = [pk for pk, aggregation in metrics.values()
                    if aggregation == Aggregation.DURATION]
    variants = set(
        Variant.objects.filter(metric_id__in=duration_ids).values_list("metric_id", "key")
    ) if duration_ids else set()
    region_keys = _strings(items, "region")
    regions = set(
        Region.objects.filter(key__in=region_keys).values_list("key", flat=True)
    ) if region_keys else set()
    names = _strings(items, "project")
    projects = dict(
        Project.objects.filter(name__in=names).values_list("name", "id")
    ) if names else {}
    return _Catalog(metrics=metrics, variants=variants, regions=regions, projects=projects)


def _text(raw: dict, name: str, errors: dict, *, required: bool = True,
          max_length: int = KEY_MAX) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            errors[name] = [ERR_REQUIRED]
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        errors[name] = [ERR_TEXT.format(max=max_length)]
        return None
    return value


def _timestamp(raw: dict, errors: dict) -> datetime | None:
    value = raw.get("occurred_at")
    if value is None:
        errors["occurred_at"] = [ERR_REQUIRED]
        return None
    at = _instant(value)
    if isinstance(at, str):
        errors["occurred_at"] = [at]
        return None
    return at


def _instant(value) -> datetime | str:
    """`value` as a UTC instant if it is an ISO-8601 timestamp with an offset, else
    the reason it is not one."""
    if not isinstance(value, str):
        return ERR_TIMESTAMP
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return ERR_TIMESTAMP
    if at.tzinfo is None or at.utcoffset() is None:
        return ERR_NAIVE
    return at.astimezone(UTC)


def _parse_all(items: list, outcomes: _Outcomes) -> list[_Item]:
    catalog = _load_catalog(items)
    parsed: list[_Item] = []
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            outcomes.set(index, None, IngestionOutcome.REFUSED, ERR_NOT_OBJECT)
            continue
        errors: dict[str, list[str]] = {}
        event_id = _text(raw, "event_id", errors, max_length=ID_MAX)
        item = _parse_one(index, event_id, raw, catalog, errors)
        if errors:
            reason = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
            shown_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
            outcomes.set(index, shown_id, IngestionOutcome.REFUSED, reason, errors)
        else:
            parsed.append(item)
    return parsed


def _parse_one(index: int, event_id, raw: dict, catalog: _Catalog, errors: dict):
    resource_id = _text(raw, "resource_id", errors, max_length=ID_MAX)
    kind = raw.get("kind")
    if kind is None:
        errors["kind"] = [ERR_REQUIRED]
    elif kind not in _KINDS:
        errors["kind"] = [ERR_KIND]

    metric_id = None
    type_key = _text(raw, "resource_type", errors)
    if type_key is not None:
        metric = catalog.metrics.get(type_key)
        if metric is None:
            errors["resource_type"] = [ERR_UNKNOWN_TYPE.format(key=type_key)]
        elif metric[1] != Aggregation.DURATION:
            errors["resource_type"] = [
                ERR_NOT_A_RESOURCE_TYPE.format(key=type_key, aggregation=metric[1])
            ]
        else:
            metric_id = metric[0]

    variant = _text(raw, "variant", errors)
    if variant is not None and metric_id is not None and (metric_id, variant) not in (
        catalog.variants
    ):
        errors["variant"] = [ERR_UNKNOWN_VARIANT.format(variant=variant, type=type_key)]

    project = _text(raw, "project", errors)
    project_id = catalog.projects.get(project) if project is not None else None
    if project is not None and project_id is None:
        errors["project"] = [ERR_UNKNOWN_PROJECT.format(name=project)]

    region = _text(raw, "region", errors)
    if region is not None and region not in catalog.regions:
        errors["region"] = [ERR_UNKNOWN_REGION.format(key=region)]

    service_class = raw.get("service_class")
    if service_class is None:
        service_class = ServiceClass.STANDARD
    elif service_class not in _CLASSES:
        errors["service_class"] = [ERR_SERVICE_CLASS]

    parent = _text(raw, "parent_resource_id", errors, required=False, max_length=ID_MAX)
    if parent is not None and parent == resource_id:
        errors["parent_resource_id"] = [ERR_PARENT_SELF]

    at = _timestamp(raw, errors)

    attributes = raw.get("attributes")
    if attributes is None:
        attributes = {}
    elif not isinstance(attributes, dict):
        errors["attributes"] = [ERR_ATTRIBUTES]

    if errors:
        return None
    return _Item(
        index=index, event_id=event_id, resource_id=resource_id, kind=kind,
        metric_id=metric_id, metric_key=type_key, variant=variant, project_id=project_id,
        project=project, region=region, service_class=str(service_class),
        parent_resource_id=parent, at=at, attributes=attributes,
    )


# --- 2. finalized cycles and duplicates -----------------------------------------------------


def _refuse_finalized(parsed: list[_Item], outcomes: _Outcomes) -> list[_Item]:
    """Items dated in a finalized cycle get the guard's refusal (one query per batch)."""
    if not parsed:
        return parsed
    boundary = finalized_boundary()
    kept = []
    for item in parsed:
        refused = boundary.refusal(item.at, field="occurred_at")
        if refused is None:
            kept.append(item)
        else:
            outcomes.set(item.index, item.event_id, IngestionOutcome.REFUSED, refused.text,
                         error=refused.body())
    return kept


def _split_repeats(parsed: list[_Item]) -> tuple[list[_Item], list[tuple[_Item, _Item]]]:
    """First occurrence of each event id, and the later items repeating one."""
    first: dict[str, _Item] = {}
    repeats = []
    for item in parsed:
        if item.event_id in first:
            repeats.append((item, first[item.event_id]))
        else:
            first[item.event_id] = item
    return list(first.values()), repeats


def _field_differences(pairs) -> str:
    """'field stored, not sent' for each (field, stored, sent, shown) that differs:
    why a re-sent id with another body is still only a duplicate."""
    return ", ".join(
        f"{name} {shown(stored)}, not {shown(sent)}"
        for name, stored, sent, shown in pairs if stored != sent
    )


def _differences(item: _Item, resource_id: str, kind: str, at: datetime, variant: str) -> str:
    return _field_differences([
        ("resource_id", resource_id, item.resource_id, repr),
        ("kind", kind, item.kind, repr),
        ("occurred_at", at, item.at, iso),
        ("variant", variant, item.variant, repr),
    ])


def _duplicate_reason(item: _Item, resource_id, kind, at, variant) -> str:
    differences = _differences(item, resource_id, kind, at, variant)
    if differences:
        return DUPLICATE_DIFFERENT.format(event_id=item.event_id, differences=differences)
    return DUPLICATE.format(event_id=item.event_id)


def _mark_stored_duplicates(items: list[_Item], outcomes: _Outcomes) -> list[_Item]:
    if not items:
        return items
    stored = {
        row[0]: row[1:]
        for row in LifecycleEvent.objects.filter(
            event_id__in=[item.event_id for item in items]
        ).values_list("event_id", "resource__resource_id", "kind", "occurred_at", "variant")
    }
    fresh = []
    for item in items:
        found = stored.get(item.event_id)
        if found is None:
            fresh.append(item)
        else:
            outcomes.set(item.index, item.event_id, IngestionOutcome.DUPLICATE,
                         _duplicate_reason(item, *found))
    return fresh


def _resolve_repeats(repeats: list[tuple[_Item, _Item]], outcomes: _Outcomes) -> None:
    for item, first in repeats:
        first_status = outcomes.rows[first.index]["status"]
        if first_status == IngestionOutcome.REFUSED:
            outcomes.set(item.index, item.event_id, IngestionOutcome.REFUSED,
                         DUPLICATE_IN_BATCH_REFUSED.format(event_id=item.event_id,
                                                           index=first.index))
            continue
        reason = DUPLICATE_IN_BATCH.format(event_id=item.event_id, index=first.index)
        differences = _differences(item, first.resource_id, first.kind, first.at, first.variant)
        if differences:
            reason = f"{reason}, with a different body ({differences})"
        outcomes.set(item.index, item.event_id, IngestionOutcome.DUPLICATE, reason)


# --- 3. validation against stored timelines and storage -------------------------------------


def _timeline_event(item: _Item) -> TimelineEvent:
    return TimelineEvent(kind=item.kind, at=item.at, variant=item.variant,
                         event_id=item.event_id)


def _lock_and_load(resource_ids: list[str]) -> dict[str, _Stored]:
    """Lock the stored resources among `resource_ids` (in resource_id order) and
    load their events: two queries."""
    if not resource_ids:
        return {}
    rows = (
        Resource.objects.select_for_update(of=("self",))
        .filter(resource_id__in=resource_ids)
        .order_by("resource_id")
        .values_list("id", "resource_id", "metric__key", "project__name", "region",
                     "service_class", "parent__resource_id", "variant", "attributes")
    )
    stored = {row[1]: _Stored(*row) for row in rows}
    if stored:
        by_pk = {resource.pk: resource for resource in stored.values()}
        events = LifecycleEvent.objects.filter(resource_id__in=list(by_pk)).values_list(
            "resource_id", "event_id", "kind", "occurred_at", "variant"
        )
        for resource_pk, event_id, kind, at, variant in events:
            by_pk[resource_pk].events.append(
                TimelineEvent(kind=kind, at=at, variant=variant, event_id=event_id)
            )
    return stored


def _decide(resource_id: str, items: list[_Item], stored: _Stored | None) -> _Decision:
    """Check one resource's items (input order) against its stored state and timeline."""
    refused: dict[int, str] = {}
    duplicates: dict[int, str] = {}
    if stored is not None:
        reference = {label: getattr(stored, name) for label, name in _SPEC_FIELDS}
        # Ids stored by a concurrent batch after our duplicate check, now visible
        # under the lock: duplicates, not contradictions.
        known = {e.event_id: e for e in stored.events}
        fresh = []
        for item in items:
            found = known.get(item.event_id)
            if found is None:
                fresh.append(item)
            else:
                duplicates[item.index] = _duplicate_reason(
                    item, resource_id, str(found.kind), found.at, found.variant
                )
        items = fresh
    else:
        reference = {label: getattr(items[0], name) for label, name in _SPEC_FIELDS}
    candidates = []
    for item in items:
        for label, name in _SPEC_FIELDS:
            given = getattr(item, name)
            if given != reference[label]:
                if stored is not None:
                    reason = RESOURCE_DISAGREES.format(
                        resource=resource_id, field=label, stored=reference[label], given=given
                    )
                else:
                    reason = RESOURCE_DISAGREES_IN_BATCH.format(
                        resource=resource_id, field=label, first=reference[label],
                        index=items[0].index, given=given,
                    )
                refused[item.index] = reason
                break
        else:
            candidates.append(item)

    timeline = Timeline(resource_id, stored.events if stored is not None else ())
    accepted = []
    attributes: dict = {}
    # Timeline order, so the batch's own events check against each other as they
    # will stand once stored.
    candidates.sort(key=timeline_key)
    reasons = timeline.add_all([_timeline_event(item) for item in candidates])
    for item, reason in zip(candidates, reasons, strict=True):
        if reason is None:
            accepted.append(item)
            attributes.update(item.attributes)
        else:
            refused[item.index] = reason
    variant = timeline.events[-1].variant if accepted else None
    return _Decision(accepted=accepted, refused=refused, duplicates=duplicates,
                     variant=variant, attributes=attributes)


def _creatable(decisions: dict[str, _Decision], stored: dict[str, _Stored],
               parent_pks: dict[str, int]) -> dict[str, str | None]:
    """For each new resource with accepted events: None if it can be created, else
    why not (its parent is unknown or part of a cycle). Follows parents in the batch."""
    new = {rid: d for rid, d in decisions.items() if rid not in stored and d.accepted}
    verdicts: dict[str, str | None] = {}

    def parent_of(rid: str) -> str | None:
        return new[rid].accepted[0].parent_resource_id

    # Iterative (a batch may hold a chain of thousands): walk up each resource's
    # chain of new parents until one is decided, stored, unknown or seen twice.
    for start in sorted(new):
        path: list[str] = []
        on_path: set[str] = set()
        rid = start
        while rid not in verdicts:
            if rid in on_path:
                members = path[path.index(rid):]
                reason = ERR_PARENT_CYCLE.format(resources=", ".join(sorted(members)))
                for member in members:
                    verdicts[member] = reason
                del path[path.index(rid):]
                break
            parent = parent_of(rid)
            if parent is None or parent in stored or parent in parent_pks:
                verdicts[rid] = None
                break
            if parent not in new:
                verdicts[rid] = ERR_PARENT_UNKNOWN.format(parent=parent)
                break
            path.append(rid)
            on_path.add(rid)
            rid = parent
        for child in reversed(path):
            parent = parent_of(child)
            verdicts[child] = (
                None if verdicts[parent] is None else ERR_PARENT_UNKNOWN.format(parent=parent)
            )
    return verdicts


def _store(items: list[_Item], outcomes: _Outcomes, now: datetime) -> None:
    by_resource: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        by_resource[item.resource_id].append(item)

    stored = _lock_and_load(sorted(by_resource))
    decisions = {rid: _decide(rid, group, stored.get(rid)) for rid, group in by_resource.items()}

    # Parents that are stored but not touched by this batch: their pks, unlocked
    # (a resource is never deleted from the store, so the row stays).
    wanted = {
        d.accepted[0].parent_resource_id for d in decisions.values() if d.accepted
    } - set(stored) - set(by_resource) - {None}
    parent_pks = dict(
        Resource.objects.filter(resource_id__in=wanted).values_list("resource_id", "id")
    ) if wanted else {}

    verdicts = _creatable(decisions, stored, parent_pks)
    for rid, reason in verdicts.items():
        if reason is not None:
            decision = decisions[rid]
            for item in decision.accepted:
                decision.refused[item.index] = reason
            decision.accepted, decision.variant = [], None

    to_create = sorted(rid for rid, reason in verdicts.items() if reason is None)
    created = _insert_resources([decisions[rid] for rid in to_create], now)
    raced = [rid for rid in to_create if rid not in created]
    if raced:
        # Created by a concurrent batch since we looked: now stored, so lock it,
        # load its events and check again as a stored resource.
        again = _lock_and_load(raced)
        stored.update(again)
        for rid in raced:
            decisions[rid] = _decide(rid, by_resource[rid], again[rid])

    pks = {rid: s.pk for rid, s in stored.items()} | created | parent_pks
    _link_parents(
        [(created[rid], decisions[rid].accepted[0].parent_resource_id) for rid in created
         if decisions[rid].accepted[0].parent_resource_id is not None],
        pks,
    )
    _update_stored(
        [(s, decisions[rid]) for rid, s in stored.items() if rid in decisions]
    )
    inserted = _insert_events(
        [(item, pks[item.resource_id]) for d in decisions.values() for item in d.accepted],
        now,
    )
    # A resource created here whose every event turned out stored meanwhile (by a
    # concurrent batch, under another resource): no event, so no resource either.
    orphans = [
        pk for rid, pk in created.items()
        if not any(item.event_id in inserted for item in decisions[rid].accepted)
    ]
    if orphans:
        Resource.objects.filter(pk__in=orphans, dependents__isnull=True).delete()
    event_ids = {item.index: item.event_id for item in items}
    for decision in decisions.values():
        for index, reason in decision.refused.items():
            outcomes.set(index, event_ids[index], IngestionOutcome.REFUSED, reason)
        for index, reason in decision.duplicates.items():
            outcomes.set(index, event_ids[index], IngestionOutcome.DUPLICATE, reason)
        for item in decision.accepted:
            if item.event_id in inserted:
                outcomes.set(item.index, item.event_id, IngestionOutcome.ACCEPTED)
            else:
                outcomes.set(item.index, item.event_id, IngestionOutcome.DUPLICATE,
                             DUPLICATE.format(event_id=item.event_id))


def _insert_resources(decisions: list[_Decision], now: datetime) -> dict[str, int]:
    """Insert new resources (parents linked afterwards); their pks by resource_id.
    Those a concurrent batch created first are left out of the answer."""
    if not decisions:
        return {}
    firsts = [d.accepted[0] for d in decisions]
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table}
                (resource_id, metric_id, project_id, variant, region, service_class,
                 attributes, created_at)
            SELECT v.resource_id, v.metric_id, v.project_id, v.variant, v.region,
                   v.service_class, v.attributes::jsonb, %s
            FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[],
                        %s::text[], %s::text[])
                AS v(resource_id, metric_id, project_id, variant, region, service_class,
                     attributes)
            ORDER BY v.resource_id
            ON CONFLICT (resource_id) DO NOTHING
            RETURNING resource_id, id
            """,
            [
                now,
                [f.resource_id for f in firsts],
                [f.metric_id for f in firsts],
                [f.project_id for f in firsts],
                [d.variant for d in decisions],
                [f.region for f in firsts],
                [f.service_class for f in firsts],
                [_attributes_json(d.attributes) for d in decisions],
            ],
        )
        return dict(cursor.fetchall())


def _link_parents(links: list[tuple[int, str]], pks: dict[str, int]) -> None:
    """Set the parent of resources just created (their parents may be new too)."""
    if not links:
        return
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS r SET parent_id = v.parent_id
            FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, parent_id)
            WHERE r.id = v.id
            """,
            [[pk for pk, _ in links], [pks[parent] for _, parent in links]],
        )


def _update_stored(pairs: list[tuple[_Stored, _Decision]]) -> None:
    """Keep a stored resource's latest variant and merged attributes current."""
    changes = [
        (s.pk, d.variant, _attributes_json(d.attributes))
        for s, d in pairs
        if d.accepted and (d.variant != s.variant or d.attributes)
    ]
    if not changes:
        return
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS r
            SET variant = v.variant, attributes = r.attributes || v.attributes::jsonb
            FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, variant, attributes)
            WHERE r.id = v.id
            """,
            [[c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes]],
        )


def _insert_events(rows: list[tuple[_Item, int]], now: datetime) -> set[str]:
    """Insert accepted events; the ids actually inserted (not stored meanwhile)."""
    if not rows:
        return set()
    table = LifecycleEvent._meta.db_table
    with connection.cursor() as cursor:
        # The ids table holds event_id unique (the partitioned store cannot): an id a
        # concurrent batch claimed first is left out, as ON CONFLICT DO NOTHING did.
        # Claimed in id order, so two batches sharing ids wait on each other in the
        # same order and never deadlock.
        cursor.execute(
            f"""
            WITH v AS (
                SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[],
                                     %s::timestamptz[], %s::text[])
                    AS v(event_id, resource_id, kind, occurred_at, variant)
            ), claimed AS (
                INSERT INTO {table}_ids (event_id) SELECT event_id FROM v ORDER BY event_id
                ON CONFLICT DO NOTHING
                RETURNING event_id
            )
            INSERT INTO {table} (event_id, resource_id, kind, occurred_at, variant, received_at)
            SELECT v.event_id, v.resource_id, v.kind, v.occurred_at, v.variant, %s
            FROM v JOIN claimed USING (event_id)
            RETURNING event_id
            """,
            [
                [item.event_id for item, _ in rows],
                [pk for _, pk in rows],
                [item.kind for item, _ in rows],
                [item.at for item, _ in rows],
                [item.variant for item, _ in rows],
                now,
            ],
        )
        return {row[0] for row in cursor.fetchall()}


def _count_day(now: datetime, counts: dict[str, int]) -> None:
    """Add the batch's outcomes to today's (UTC) counters: one atomic upsert.

    Concurrent batches serialize on this row until they commit, so it is the last
    write of the transaction: the lock is held only for the commit itself."""
    table = IngestionDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (day, stream, accepted, duplicate, refused)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (day, stream) DO UPDATE SET
                accepted = {table}.accepted + EXCLUDED.accepted,
                duplicate = {table}.duplicate + EXCLUDED.duplicate,
                refused = {table}.refused + EXCLUDED.refused
            """,
            [
                now.astimezone(UTC).date(), STREAM_LIFECYCLE,
                counts[IngestionOutcome.ACCEPTED], counts[IngestionOutcome.DUPLICATE],
                counts[IngestionOutcome.REFUSED],
            ],
        )


# --- usage events ---------------------------------------------------------------------------
#
# `usage_events_ingest` answers item by item exactly like lifecycle ingestion (accepted,
# duplicate, refused with reasons, input order), is idempotent by event id and counts
# its outcomes per day under the stream "usage". Usage is stored whether or not an
# entitlement covers it: rating prices it, or reports it as unentitled.

import re  # noqa: E402
from decimal import Decimal, InvalidOperation  # noqa: E402

from core.fields import QUANTITY_DIGITS, QUANTITY_PLACES  # noqa: E402
from metering.domain.cloudevents import CLOUDEVENT_ERRORS  # noqa: E402
from metering.models import UsageEvent  # noqa: E402

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


def _parse_usage(items: list, outcomes: _Outcomes) -> list[_UsageItem]:
    """The well-formed items; the others get their refusal in `outcomes`.

    Each item first tries the fast path, which takes only items of the common shape
    and gives them exactly what the detailed path would; anything else (a refusal, a
    value or instant in an unusual form) goes through the detailed path, which words
    the reasons. Instants are parsed once per distinct text in the batch."""
    keys = _strings(items, "metric")
    metrics = {
        key: (pk, aggregation) for pk, key, aggregation in
        Metric.objects.filter(key__in=keys).values_list("id", "key", "aggregation")
    } if keys else {}
    names = _strings(items, "project")
    projects = dict(Project.objects.filter(name__in=names).values_list("name", "id")
                    ) if names else {}
    # Only names the detailed path would take as they are (valid text, usage metric).
    metric_ids = {key: pk for key, (pk, aggregation) in metrics.items()
                  if 0 < len(key) <= KEY_MAX and aggregation != Aggregation.DURATION}
    project_ids = {name: pk for name, pk in projects.items() if 0 < len(name) <= KEY_MAX}
    instants: dict[str, datetime] = {}
    parsed = []
    for index, raw in enumerate(items):
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
        at = _instant(text)
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
                    projects: dict[str, int], outcomes: _Outcomes) -> _UsageItem | None:
    """One item checked field by field: the item, or None with its refusal (every
    field's reasons) set in `outcomes`."""
    if not isinstance(raw, dict):
        outcomes.set(index, None, IngestionOutcome.REFUSED, ERR_NOT_OBJECT)
        return None
    errors: dict[str, list[str]] = dict(raw.get(CLOUDEVENT_ERRORS) or {})
    event_id = _text(raw, "event_id", errors, max_length=ID_MAX)
    metric_key = _text(raw, "metric", errors)
    metric = metrics.get(metric_key) if metric_key else None
    if metric_key is not None and metric is None:
        errors["metric"] = [ERR_UNKNOWN_METRIC.format(key=metric_key)]
    elif metric is not None and metric[1] == Aggregation.DURATION:
        errors["metric"] = [ERR_DURATION_METRIC.format(key=metric_key)]
    project = _text(raw, "project", errors)
    if project is not None and project not in projects:
        errors["project"] = [ERR_UNKNOWN_PROJECT.format(name=project)]
    at = _timestamp(raw, errors)
    value = _usage_value(raw, errors)
    attributes = raw.get("attributes")
    if attributes is None:
        attributes = {}
    elif not isinstance(attributes, dict):
        errors["attributes"] = [ERR_ATTRIBUTES]
    if errors:
        reason = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
        shown_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
        outcomes.set(index, shown_id, IngestionOutcome.REFUSED, reason, errors)
        return None
    return _UsageItem(
        index=index, event_id=event_id, metric_id=metric[0], metric_key=metric_key,
        project_id=projects[project], project=project, at=at, value=value,
        attributes=attributes,
    )


def _usage_differences(item: _UsageItem, metric: str, project: str, at: datetime,
                       value: Decimal) -> str:
    return _field_differences([
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
    An event in a finalized cycle is refused. A bounded number of queries per batch.
    """
    if not isinstance(items, list):
        raise ValidationError({"events": [ERR_NOT_A_LIST]})
    if len(items) > MAX_BATCH:
        raise ValidationError({"events": [ERR_TOO_MANY.format(max=MAX_BATCH, count=len(items))]})
    outcomes = _Outcomes(len(items))
    first_of, repeats = _split_repeats(_parse_usage(items, outcomes))
    stored = _stored_usage([i.event_id for i in first_of])
    fresh = []
    for item in first_of:
        if item.event_id in stored:
            outcomes.set(item.index, item.event_id, IngestionOutcome.DUPLICATE,
                         _usage_duplicate(item, stored[item.event_id]))
        else:
            fresh.append(item)
    usage_partitions_ensure(table=UsageEvent._meta.db_table, instants={i.at for i in fresh})
    with transaction.atomic():
        usage_lock_shared()
        fresh = _refuse_finalized(fresh, outcomes)
        inserted = _insert_usage(fresh, now)
        for item in fresh:
            if item.event_id in inserted:
                outcomes.accept(item.index, item.event_id)
            else:  # stored by a concurrent batch since the duplicate check
                outcomes.set(item.index, item.event_id, IngestionOutcome.DUPLICATE,
                             DUPLICATE.format(event_id=item.event_id))
        for item, first in repeats:
            first_row = outcomes.rows[first.index]
            if first_row["status"] == IngestionOutcome.REFUSED:
                outcomes.set(item.index, item.event_id, IngestionOutcome.REFUSED,
                             DUPLICATE_IN_BATCH_REFUSED.format(event_id=item.event_id,
                                                               index=first.index))
                continue
            reason = DUPLICATE_IN_BATCH.format(event_id=item.event_id, index=first.index)
            differences = _usage_differences(item, first.metric_key, first.project, first.at,
                                             first.value)
            if differences:
                reason = f"{reason}, with a different body ({differences})"
            outcomes.set(item.index, item.event_id, IngestionOutcome.DUPLICATE, reason)
        counts = {status: 0 for status in IngestionOutcome.values}
        for row in outcomes.rows:
            counts[row["status"]] += 1
        if items:
            _count_stream_day(now, counts, STREAM_USAGE)
    return IngestionResult(
        items=outcomes.rows,
        accepted=counts[IngestionOutcome.ACCEPTED],
        duplicate=counts[IngestionOutcome.DUPLICATE],
        refused=counts[IngestionOutcome.REFUSED],
    )


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


def _attributes_json(value) -> str:
    """JSON text of free-form `attributes`, with every Decimal written as the exact
    number it is: the API parses every JSON number as a Decimal, which the json
    module cannot write (a TypeError, a 500, until this), and a float would round."""
    if isinstance(value, Decimal):
        return str(value)  # a finite Decimal's text is a JSON number: 1.5, 1E+1, 0E-10
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_attributes_json(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_attributes_json(v) for v in value) + "]"
    return json.dumps(value)


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
            row["a"] = _attributes_json(i.attributes)
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



def _count_stream_day(now: datetime, counts: dict[str, int], stream: str) -> None:
    table = IngestionDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (day, stream, accepted, duplicate, refused)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (day, stream) DO UPDATE SET
                accepted = {table}.accepted + EXCLUDED.accepted,
                duplicate = {table}.duplicate + EXCLUDED.duplicate,
                refused = {table}.refused + EXCLUDED.refused
            """,
            [now.astimezone(UTC).date(), stream, counts[IngestionOutcome.ACCEPTED],
             counts[IngestionOutcome.DUPLICATE], counts[IngestionOutcome.REFUSED]],
        )


# --- partitions of the usage store ----------------------------------------------------------
#
# Both event tables are partitioned by UTC month of occurred_at (migration 0003), with a
# DEFAULT partition for instants without a month of their own. Ingestion creates the
# partitions of the months a batch names before storing it, so a new month never piles up
# in the default partition. Known partitions are remembered per process (after commit):
# the usual batch costs no query here. A stale memory is harmless: rows then go to the
# default partition, never to an error.

PARTITIONED_TABLES = (LifecycleEvent._meta.db_table, UsageEvent._meta.db_table)
_known_partitions: set[tuple[str, str, str]] = set()  # (schema, table, "YYYY_MM")


def _month_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def usage_partitions_ensure(*, table: str, instants) -> list[str]:
    """Create the month partitions of `table` that `instants` fall in and that are
    missing; the names of those created. Rows the default partition held for such a
    month move into it. Serialized per schema and table (an advisory lock)."""
    schema = connection.schema_name
    months = {_month_start(at) for at in set(instants)}
    missing = [m for m in sorted(months) if (schema, table, f"{m:%Y_%m}") not in _known_partitions]
    if not missing:
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                       [f"{schema}:partitions:{table}"])
        cursor.execute(
            """
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.oid = to_regclass(%s)
            """,
            [table],
        )
        existing = {name for (name,) in cursor.fetchall()}
        for start in missing:
            name = f"{table}_p{start:%Y_%m}"
            if name not in existing:
                _partition_create(cursor, table, name, start, _next_month(start))
                created.append(name)
        known = {(schema, table, f"{m:%Y_%m}") for m in missing}
        transaction.on_commit(lambda: _known_partitions.update(known))
    return created


def _partition_create(cursor, table: str, name: str, start: datetime, end: datetime) -> None:
    default = f"{table}_default"
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {default} WHERE occurred_at >= %s AND occurred_at < %s)",
        [start, end],
    )
    bounds = f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    if not cursor.fetchone()[0]:
        cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} {bounds}")
        return
    # The default partition holds rows of this month: move them into a new table,
    # then attach it (attaching checks the default partition holds none left).
    cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)")
    cursor.execute(
        f"WITH moved AS (DELETE FROM {default} WHERE occurred_at >= %s AND occurred_at < %s "
        f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
        [start, end],
    )
    cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} {bounds}")
