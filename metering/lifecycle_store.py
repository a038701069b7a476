"""Storing a lifecycle batch: its fresh items checked against their resources, then written.

Steps 3 and 4 of `lifecycle_events_ingest` (metering/lifecycle_ingest.py, whose
docstring says how and why), in the batch's transaction: lock and load the touched
resources, check each one's new events against its stored timeline, insert new
resources and the accepted events, and set each item's outcome.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from metering.domain.lifecycle import Timeline, TimelineEvent, timeline_key
from metering.ingestion import DUPLICATE, Outcomes, attributes_json
from metering.lifecycle_items import LifecycleItem, duplicate_reason
from metering.lifecycle_writes import (
    events_insert,
    parents_link,
    resources_insert,
    resources_update,
)
from metering.models import IngestionOutcome, LifecycleEvent, Resource

ERR_PARENT_UNKNOWN = (
    "unknown parent resource {parent!r}: it must exist or be created in the same batch"
)
ERR_PARENT_CYCLE = "resources {resources} depend on each other in a cycle"
RESOURCE_DISAGREES = (
    "resource {resource!r} has {field} {stored!r}, not {given!r}: "
    "a resource never changes its {field}"
)
RESOURCE_DISAGREES_IN_BATCH = (
    "resource {resource!r} is given {field} {first!r} by item {index} and {given!r} here: "
    "a resource never changes its {field}"
)

# What an event says about its resource: (label in reasons, attribute of LifecycleItem).
_SPEC_FIELDS = (
    ("type", "metric_key"),
    ("project", "project"),
    ("region", "region"),
    ("service class", "service_class"),
    ("parent", "parent_resource_id"),
)


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
    created_by: str | None = None
    events: list[TimelineEvent] = field(default_factory=list)


@dataclass(slots=True)
class _Decision:
    """What one resource's items of this batch come to."""

    accepted: list[LifecycleItem]
    refused: dict[int, str]
    duplicates: dict[int, str]  # stored by a concurrent batch since the duplicate check
    variant: str | None  # variant after all its events, None if no event accepted
    attributes: dict
    created_by_id: int | None = None  # the creator a new resource is stored with


def items_store(items: list[LifecycleItem], outcomes: Outcomes, now: datetime) -> None:
    """Check the batch's fresh items against their resources, under lock, and store
    those accepted; each item's outcome in `outcomes`."""
    by_resource: dict[str, list[LifecycleItem]] = defaultdict(list)
    for item in items:
        by_resource[item.resource_id].append(item)

    stored = _lock_and_load(sorted(by_resource))
    decisions = {rid: _decide(rid, group, stored.get(rid)) for rid, group in by_resource.items()}
    parent_pks = _untouched_parent_pks(decisions, stored, by_resource)
    created = _create_resources(by_resource, decisions, stored, parent_pks, now)

    pks = {rid: s.pk for rid, s in stored.items()} | created | parent_pks
    parents_link(
        [(created[rid], decisions[rid].accepted[0].parent_resource_id) for rid in created
         if decisions[rid].accepted[0].parent_resource_id is not None],
        pks,
    )
    resources_update(_stored_changes(stored, decisions))
    inserted = events_insert(
        [(item, pks[item.resource_id]) for d in decisions.values() for item in d.accepted],
        now,
    )
    _drop_orphans(created, decisions, inserted)
    _report(items, decisions, inserted, outcomes)


def _untouched_parent_pks(decisions: dict[str, _Decision], stored: dict[str, _Stored],
                          by_resource: dict[str, list[LifecycleItem]]) -> dict[str, int]:
    """Parents that are stored but not touched by this batch: their pks, unlocked
    (a resource is never deleted from the store, so the row stays)."""
    wanted = {
        d.accepted[0].parent_resource_id for d in decisions.values() if d.accepted
    } - set(stored) - set(by_resource) - {None}
    return dict(
        Resource.objects.filter(resource_id__in=wanted).values_list("resource_id", "id")
    ) if wanted else {}


def _create_resources(by_resource: dict[str, list[LifecycleItem]],
                      decisions: dict[str, _Decision], stored: dict[str, _Stored],
                      parent_pks: dict[str, int], now: datetime) -> dict[str, int]:
    """Insert the new resources that can be created; their pks by resource_id.

    Those that cannot be (an unknown parent, a cycle) have their accepted items
    refused. Those a concurrent batch created since we looked are now stored: they
    are locked, loaded into `stored` and decided again (in `decisions`)."""
    verdicts = _creatable(decisions, stored, parent_pks)
    for rid, reason in verdicts.items():
        if reason is not None:
            decision = decisions[rid]
            for item in decision.accepted:
                decision.refused[item.index] = reason
            decision.accepted, decision.variant = [], None

    to_create = sorted(rid for rid, reason in verdicts.items() if reason is None)
    new = [decisions[rid] for rid in to_create]
    created = resources_insert(
        [(d.accepted[0], d.variant, d.attributes, d.created_by_id) for d in new], now)
    raced = [rid for rid in to_create if rid not in created]
    if raced:
        again = _lock_and_load(raced)
        stored.update(again)
        for rid in raced:
            decisions[rid] = _decide(rid, by_resource[rid], again[rid])
    return created


def _stored_changes(stored: dict[str, _Stored],
                    decisions: dict[str, _Decision]) -> list[tuple[int, str, str]]:
    """(pk, variant, attributes as JSON) of the stored resources whose latest variant
    changes or that have attributes to merge in: what keeps them current."""
    changes = []
    for rid, resource in stored.items():
        decision = decisions.get(rid)
        if decision is not None and decision.accepted and (
            decision.variant != resource.variant or decision.attributes
        ):
            changes.append((resource.pk, decision.variant, attributes_json(decision.attributes)))
    return changes


def _drop_orphans(created: dict[str, int], decisions: dict[str, _Decision],
                  inserted: set[str]) -> None:
    """A resource created here whose every event turned out stored meanwhile (by a
    concurrent batch, under another resource): no event, so no resource either."""
    orphans = [
        pk for rid, pk in created.items()
        if not any(item.event_id in inserted for item in decisions[rid].accepted)
    ]
    if orphans:
        Resource.objects.filter(pk__in=orphans, dependents__isnull=True).delete()


def _report(items: list[LifecycleItem], decisions: dict[str, _Decision], inserted: set[str],
            outcomes: Outcomes) -> None:
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


# --- checking against stored timelines ------------------------------------------------------


def _timeline_event(item: LifecycleItem) -> TimelineEvent:
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
                     "service_class", "parent__resource_id", "variant", "attributes",
                     "created_by__username")
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


def _decide(resource_id: str, items: list[LifecycleItem], stored: _Stored | None) -> _Decision:
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
                duplicates[item.index] = duplicate_reason(
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
    candidates = _same_creator(resource_id, candidates, stored, refused)

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
    creator_id = next((i.created_by_id for i in accepted if i.created_by_id is not None), None)
    return _Decision(accepted=accepted, refused=refused, duplicates=duplicates,
                     variant=variant, attributes=attributes, created_by_id=creator_id)


def _same_creator(resource_id: str, items: list[LifecycleItem], stored: _Stored | None,
                  refused: dict[int, str]) -> list[LifecycleItem]:
    """The items that name no creator or the resource's: a resource's creator is set
    when it is created and never changes. The others are refused into `refused`."""
    named = [item for item in items if item.created_by is not None]
    if not named:
        return items
    if stored is not None:
        reference, first = stored.created_by, None
    else:
        reference, first = named[0].created_by, named[0].index
    kept = []
    for item in items:
        if item.created_by is None or item.created_by == reference:
            kept.append(item)
        elif first is None:
            refused[item.index] = RESOURCE_DISAGREES.format(
                resource=resource_id, field="creator", stored=reference, given=item.created_by)
        else:
            refused[item.index] = RESOURCE_DISAGREES_IN_BATCH.format(
                resource=resource_id, field="creator", first=reference, index=first,
                given=item.created_by)
    return kept


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
