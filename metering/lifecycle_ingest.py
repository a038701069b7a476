"""Writes of metering: ingesting resource lifecycle events.

`lifecycle_events_ingest` takes a batch of events from another system and
stores every event it can: each item gets its own outcome (accepted, duplicate
or refused, with the reason), in input order. A batch is never all-or-nothing,
and an item is never stored in part.

How a batch flows, and why (the hot path: later target 25,000 events/s):
1. Parse and validate every item in Python against the catalog (resource types,
   variants, regions) and the projects it names, loaded once per batch
   (metering/lifecycle_items.py).
2. Report event ids already stored (or repeated in the batch) as duplicates;
   refuse events the billing calendar cannot take (cycles.guard: beyond the future
   horizon, before the billing start, inside a finalized cycle, those kept in the
   late-usage report) (here).
3. In one transaction: lock the touched resources (`SELECT ... FOR UPDATE`,
   ordered by resource_id so concurrent batches cannot deadlock on them),
   load all their events in one query, and check each resource's new events,
   in timeline order, against its stored ones (`metering.domain.lifecycle`).
4. Insert new resources (`ON CONFLICT (resource_id) DO NOTHING`: a resource
   created meanwhile by a concurrent batch is re-read, locked and re-checked)
   and the accepted events (`ON CONFLICT (event_id) DO NOTHING`: an id stored
   meanwhile by a concurrent batch is reported as a duplicate, not an error),
   and count the outcomes in `IngestionDay`. (Steps 3 and 4:
   metering/lifecycle_store.py.) The billing months of the accepted events get their
   cycles (cycles.services.cycles_ensure_for).

The number of queries per batch is bounded (about fifteen) whatever its size.

Every event describes its resource in full: type, project, region, service
class (default standard) and parent (default none). A resource never changes
those; its variant changes only through `resized` events. `attributes` are
merged into the resource's attributes (later events in timeline order win).
"""

from datetime import datetime, timedelta

from django.db import transaction

from core.locks import usage_lock_shared
from cycles.services import cycles_ensure_for
from metering.ingestion import (
    IngestionResult,
    Outcomes,
    batch_check,
    calendar_refuse,
    outcomes_finish,
    repeats_resolve,
    repeats_split,
)
from metering.late_events import LateItem, late_events_record
from metering.lifecycle_items import (
    LifecycleItem,
    duplicate_reason,
    item_differences,
    items_parse,
)
from metering.lifecycle_store import items_store
from metering.models import IngestionOutcome, LifecycleEvent, LifecycleKind
from metering.partitions import usage_partitions_ensure

STREAM_LIFECYCLE = "lifecycle"
_JUST_BEFORE = timedelta(microseconds=1)


def lifecycle_events_ingest(*, items: list[dict], now: datetime) -> IngestionResult:
    """Store a batch of lifecycle events; see the module docstring for the rules.

    Raises ValidationError only for the batch as a whole (not a list, more than
    MAX_BATCH items); every problem with one item is that item's outcome.
    """
    batch_check(items)
    outcomes = Outcomes(len(items))
    first_of, repeats = repeats_split(items_parse(items, outcomes))
    # Duplicates before the finalized check: re-sending an old batch after its
    # cycle closed is still a no-op, reported as duplicate.
    fresh = _mark_stored_duplicates(first_of, outcomes)
    usage_partitions_ensure(table=LifecycleEvent._meta.db_table,
                            instants=[item.at for item in fresh])

    with transaction.atomic():
        # Held until commit: closing a cycle waits for this batch, and this batch
        # sees a cycle that turned closing before it started (billing/locks.py).
        usage_lock_shared()
        fresh, late = calendar_refuse(fresh, outcomes, now=now)
        late_events_record(stream=STREAM_LIFECYCLE, items=[_late(i, c) for i, c in late],
                           now=now)
        if fresh:
            items_store(fresh, outcomes, now)
        cycles_ensure_for(instants=_billed_instants(fresh, outcomes), now=now)
        repeats_resolve(repeats, outcomes, _repeat_differences)
        return outcomes_finish(outcomes, now=now, stream=STREAM_LIFECYCLE)


def _mark_stored_duplicates(items: list[LifecycleItem], outcomes: Outcomes) -> list[LifecycleItem]:
    """Items whose id is already stored get their duplicate outcome; the others, kept."""
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
                         duplicate_reason(item, *found))
    return fresh


def _repeat_differences(item: LifecycleItem, first: LifecycleItem) -> str:
    return item_differences(item, first.resource_id, first.kind, first.at, first.variant)


def _billed_instants(items: list[LifecycleItem], outcomes: Outcomes) -> list[datetime]:
    """Where accepted events make the resource bill: from a creation, start or resize on;
    up to a stop or deletion, whose own instant is not billed, so the month holding the
    instant just before it (a deletion at midnight on the 1st bills the month before,
    and makes no cycle for a month it runs no second in)."""
    ending = (LifecycleKind.STOPPED, LifecycleKind.DELETED)
    accepted = IngestionOutcome.ACCEPTED
    return [item.at - _JUST_BEFORE if item.kind in ending else item.at
            for item in items if outcomes.rows[item.index]["status"] == accepted]


def _late(item: LifecycleItem, cycle: str) -> LateItem:
    return LateItem(
        event_id=item.event_id, occurred_at=item.at, cycle=cycle, project=item.project,
        subject=item.resource_id,
        summary=f"{item.kind} {item.metric_key} {item.variant} in {item.region}",
        details={"kind": item.kind, "resource_type": item.metric_key, "variant": item.variant,
                 "region": item.region, "service_class": item.service_class,
                 "parent_resource_id": item.parent_resource_id},
    )
