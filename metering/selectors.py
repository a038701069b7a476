"""Reads of metering: resources and their lifecycles, for rating, credits and people."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from accounts.access import Access, visible_projects
from billing.periods import Period
from invoicing.domain.rating import LifecycleEvent as RatedEvent
from invoicing.domain.rating import LifecycleKind as RatedKind
from metering.domain.lifecycle import (
    KIND_ORDER,
    Timeline,
    TimelineEvent,
    TimelineState,
    sort_timeline,
    timeline_violation,
)
from metering.models import IngestionDay, LifecycleEvent, LifecycleKind, Resource

STREAMS = ("lifecycle", "usage")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceLifecycle:
    """A resource and all its lifecycle events before the end of a period.

    `events` are in timeline order (instant, then created < started < stopped <
    resized < deleted at one instant), which is the order `running_intervals`
    expects. They may not start with `created` when events arrived out of order
    and the creation is still missing: `complete` says whether it is there.
    """

    pk: int
    resource_id: str
    metric_key: str
    project_id: int
    region: str
    service_class: str
    parent_pk: int | None
    events: tuple[RatedEvent, ...]

    @property
    def complete(self) -> bool:
        return bool(self.events) and self.events[0].kind == RatedKind.CREATED


def lifecycle_for_period(*, period: Period) -> list[ResourceLifecycle]:
    """Every resource that could have run in `period`, with its events before `period.end`.

    A resource is left out when it has no event before the end, or was deleted
    before the start. Earlier events are included: the state at `period.start`
    derives from them. Two queries, ordered by resource_id.
    """
    deleted_before = LifecycleEvent.objects.filter(
        resource_id=OuterRef("pk"), kind=LifecycleKind.DELETED, occurred_at__lt=period.start
    )
    any_before_end = LifecycleEvent.objects.filter(
        resource_id=OuterRef("pk"), occurred_at__lt=period.end
    )
    resources = (
        Resource.objects.filter(Exists(any_before_end))
        .exclude(Exists(deleted_before))
        .order_by("resource_id")
    )
    rows = list(
        resources.values_list(
            "id", "resource_id", "metric__key", "project_id", "region", "service_class",
            "parent_id",
        )
    )
    events_by_pk: dict[int, list[TimelineEvent]] = defaultdict(list)
    for resource_pk, event_id, kind, at, variant in LifecycleEvent.objects.filter(
        resource__in=resources.values("pk"), occurred_at__lt=period.end
    ).values_list("resource_id", "event_id", "kind", "occurred_at", "variant"):
        events_by_pk[resource_pk].append(
            TimelineEvent(kind=kind, at=at, variant=variant or None, event_id=event_id)
        )
    return [
        ResourceLifecycle(
            pk=pk, resource_id=resource_id, metric_key=metric_key, project_id=project_id,
            region=region, service_class=service_class, parent_pk=parent_pk,
            events=tuple(
                RatedEvent(kind=RatedKind(e.kind), at=e.at, variant=e.variant)
                for e in sort_timeline(events_by_pk[pk])
            ),
        )
        for pk, resource_id, metric_key, project_id, region, service_class, parent_pk in rows
    ]


def resources_depending_on(*, pks) -> set[int]:
    """The pks of resources that depend on any of `pks`, directly or through others
    (a disk attached to an instance, a NIC of that disk...), not including `pks`.
    One recursive query."""
    pks = list(pks)
    if not pks:
        return set()
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE dependents(id) AS (
                SELECT id FROM {table} WHERE parent_id = ANY(%s)
                UNION
                SELECT r.id FROM {table} r JOIN dependents d ON r.parent_id = d.id
            )
            SELECT id FROM dependents
            """,
            [pks],
        )
        return {row[0] for row in cursor.fetchall()} - set(pks)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestionCounts:
    day: date
    stream: str
    accepted: int
    duplicate: int
    refused: int

    @property
    def received(self) -> int:
        return self.accepted + self.duplicate + self.refused


def ingestion_health(*, day: date) -> list[IngestionCounts]:
    """What ingestion accepted, found duplicate and refused on `day` (UTC), per
    stream (lifecycle, usage; zeros when nothing arrived). One query."""
    found = {
        row.stream: row for row in IngestionDay.objects.filter(day=day, stream__in=STREAMS)
    }
    return [
        IngestionCounts(
            day=day, stream=stream,
            accepted=found[stream].accepted if stream in found else 0,
            duplicate=found[stream].duplicate if stream in found else 0,
            refused=found[stream].refused if stream in found else 0,
        )
        for stream in STREAMS
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceDetail:
    resource: Resource
    events: tuple[LifecycleEvent, ...]
    state: TimelineState
    consistent: bool


def resource_visible_detail(*, access: Access, resource_id: str) -> ResourceDetail | None:
    """A resource with its events and current state, if `access` may see its project
    (fleet roles, or viewers of its project or organization); else None. Two queries."""
    queryset: QuerySet[Resource] = Resource.objects.select_related(
        "metric", "project", "parent"
    ).prefetch_related(
        Prefetch("events", queryset=LifecycleEvent.objects.order_by("occurred_at", "id"))
    )
    if not access.sees_fleet:
        queryset = queryset.filter(project__in=visible_projects(access))
    resource = queryset.filter(resource_id=resource_id).first()
    if resource is None:
        return None
    events = sorted(
        resource.events.all(),
        key=lambda e: (e.occurred_at, KIND_ORDER[LifecycleKind(e.kind)], e.event_id),
    )
    timeline_events = [
        TimelineEvent(kind=e.kind, at=e.occurred_at, variant=e.variant, event_id=e.event_id)
        for e in events
    ]
    consistent = timeline_violation(resource.resource_id, timeline_events) is None
    return ResourceDetail(
        resource=resource,
        events=tuple(events),
        state=Timeline(resource.resource_id, timeline_events).state,
        consistent=consistent,
    )
