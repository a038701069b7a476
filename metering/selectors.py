"""Reads of metering: resources and their lifecycles, for rating, credits and people."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from accounts.access import Access, visible_projects
from accounts.models import Entitlement, Organization, Project, ProjectAccountAssignment
from catalog.models import Metric, OfferVersion
from core.periods import Period
from metering.domain.lifecycle import (
    KIND_ORDER,
    Timeline,
    TimelineEvent,
    TimelineState,
    timeline_violation,
)
from metering.domain.timeline import LifecycleEvent as RatedEvent
from metering.domain.timeline import LifecycleKind as RatedKind
from metering.models import (
    IngestionDay,
    LateEvent,
    LifecycleEvent,
    LifecycleKind,
    Resource,
    UsageEvent,
)

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
    creator_id: int | None = None  # who created it: its lines are grouped by it

    @property
    def complete(self) -> bool:
        return bool(self.events) and self.events[0].kind == RatedKind.CREATED


# Timeline order on raw rows (instant, then created < started < ... < deleted, then
# event id): the order `sort_timeline` gives, without building an object per event first.
_KIND_RANK = {str(kind): rank for kind, rank in KIND_ORDER.items()}
_RATED_KIND = {str(kind): RatedKind(str(kind)) for kind in KIND_ORDER}


def lifecycle_for_period(*, period: Period, project_ids=None,
                         resource_pks=None) -> list[ResourceLifecycle]:
    """Every resource that could have run in `period`, with its events before `period.end`.

    A resource is left out when it has no event before the end, or was deleted
    before the start. Earlier events are included: the state at `period.start`
    derives from them. `project_ids`: only the resources of these projects (an
    incremental rating); `resource_pks`: only these resources. Two queries, ordered by
    resource_id.
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
    if project_ids is not None:
        resources = resources.filter(project_id__in=list(project_ids))
    if resource_pks is not None:
        resources = resources.filter(pk__in=list(resource_pks))
    rows = list(
        resources.values_list(
            "id", "resource_id", "metric__key", "project_id", "region", "service_class",
            "parent_id", "created_by_id",
        )
    )
    events_by_pk: dict[int, list[tuple]] = defaultdict(list)
    for resource_pk, event_id, kind, at, variant in LifecycleEvent.objects.filter(
        resource__in=resources.values("pk"), occurred_at__lt=period.end
    ).values_list("resource_id", "event_id", "kind", "occurred_at", "variant"):
        events_by_pk[resource_pk].append((at, _KIND_RANK[kind], event_id, kind, variant))
    return [
        ResourceLifecycle(
            pk=pk, resource_id=resource_id, metric_key=metric_key, project_id=project_id,
            region=region, service_class=service_class, parent_pk=parent_pk,
            creator_id=creator_id, events=tuple(
                RatedEvent(kind=_RATED_KIND[kind], at=at, variant=variant or None)
                for at, _, _, kind, variant in sorted(events_by_pk[pk])
            ),
        )
        for (pk, resource_id, metric_key, project_id, region, service_class, parent_pk,
             creator_id) in rows
    ]


def projects_with_usage_received(*, since: datetime, period: Period) -> set[int]:
    """Projects with lifecycle or usage events received from `since` on that fall
    before `period.end`: what an incremental rating of `period` has to revisit.
    (An event before the period can change the state a resource enters it in.)"""
    lifecycle = set(
        LifecycleEvent.objects.filter(received_at__gte=since, occurred_at__lt=period.end)
        .values_list("resource__project_id", flat=True).distinct()
    )
    usage = set(
        UsageEvent.objects.filter(received_at__gte=since, occurred_at__gte=period.start,
                                  occurred_at__lt=period.end)
        .values_list("project_id", flat=True).distinct()
    )
    return lifecycle | usage


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
        "metric", "project", "parent", "created_by"
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


# --- usage: what no entitlement covers -----------------------------------------------------


def _tables() -> dict[str, str]:
    return {
        "event": UsageEvent._meta.db_table,
        "assignment": ProjectAccountAssignment._meta.db_table,
        "entitlement": Entitlement._meta.db_table,
        "version_services": OfferVersion.services.through._meta.db_table,
        "metric": Metric._meta.db_table,
        "project": Project._meta.db_table,
        "organization": Organization._meta.db_table,
    }


# True when an entitlement of the account the project bills to at the event's instant,
# active at that instant, covers the service of the event's metric.
COVERED_SQL = """
    EXISTS (
        SELECT 1 FROM {assignment} a
        JOIN {entitlement} en ON en.billing_account_id = a.billing_account_id
        JOIN {version_services} vs ON vs.offerversion_id = en.offer_version_id
        WHERE a.project_id = e.project_id AND a.valid_from <= e.occurred_at
          AND (a.valid_to IS NULL OR a.valid_to > e.occurred_at)
          AND en.start <= e.occurred_at AND (en."end" IS NULL OR en."end" > e.occurred_at)
          AND vs.service_id = m.service_id
    )
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnentitledUsage:
    """Usage of one metric by one project that no entitlement covered, in a period."""

    project: str
    organization: str
    metric: str
    events: int
    total_value: Decimal
    first_at: datetime
    last_at: datetime


def unentitled_usage(*, period: Period, project_ids=None) -> list[UnentitledUsage]:
    """Usage events in `period` not covered by any entitlement, grouped per project and
    metric, for operators: one query (an index range scan on occurred_at)."""
    tables = _tables()
    params: dict = {"start": period.start, "end": period.end}
    narrow = ""
    if project_ids is not None:
        narrow = "AND e.project_id = ANY(%(projects)s)"
        params["projects"] = list(project_ids)
    sql = f"""
        SELECT p.name, o.name, m.key, count(*), sum(e.value), min(e.occurred_at),
               max(e.occurred_at)
        FROM {tables['event']} e
        JOIN {tables['metric']} m ON m.id = e.metric_id
        JOIN {tables['project']} p ON p.id = e.project_id
        JOIN {tables['organization']} o ON o.id = p.organization_id
        WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s {narrow}
          AND NOT {COVERED_SQL.format(**tables)}
        GROUP BY p.name, o.name, m.key
        ORDER BY p.name, m.key
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            UnentitledUsage(project=row[0], organization=row[1], metric=row[2], events=row[3],
                            total_value=row[4], first_at=row[5], last_at=row[6])
            for row in cursor.fetchall()
        ]


RUNNING_KINDS = ("created", "started", "resized")


def running_counts(*, project_ids, at) -> dict[tuple[int, str, str, str, str], int]:
    """How many resources run at `at`, per (project, type, variant, region, class):
    each resource's latest event at or before `at` says whether it runs. One query."""
    latest = (
        LifecycleEvent.objects.filter(occurred_at__lte=at, resource__project_id__in=project_ids)
        .order_by("resource_id", "-occurred_at", "-id")
        .distinct("resource_id")
        .values_list("kind", "variant", "resource__project_id", "resource__metric__key",
                     "resource__region", "resource__service_class")
    )
    counts: dict[tuple[int, str, str, str, str], int] = {}
    for kind, variant, project_id, metric_key, region, service_class in latest:
        if kind in RUNNING_KINDS:
            key = (project_id, metric_key, variant, region, service_class)
            counts[key] = counts.get(key, 0) + 1
    return counts


def late_events(*, cycle: str | None = None, stream: str | None = None,
                using: str | None = None) -> QuerySet[LateEvent]:
    """The late-usage report: events refused because their cycle was finalized, latest
    received first; of one finalized cycle (`YYYY-MM`) and stream when given."""
    rows = LateEvent.objects.using(using).all()
    if cycle:
        rows = rows.filter(cycle=cycle)
    if stream:
        rows = rows.filter(stream=stream)
    return rows.order_by("-last_received_at", "stream", "event_id")


# The state a resource is left in by its last event of each kind, in timeline order at
# one instant: `resized` changes the variant, never whether it runs.
_RUNNING_SQL = """
SELECT EXISTS (
    SELECT 1 FROM (
        SELECT DISTINCT ON (resource_id) kind
        FROM {table}
        WHERE occurred_at <= %s AND kind <> 'resized'
        ORDER BY resource_id, occurred_at DESC,
                 CASE kind WHEN 'created' THEN 0 WHEN 'started' THEN 1
                           WHEN 'stopped' THEN 2 ELSE 4 END DESC
    ) last_event
    WHERE kind IN ('created', 'started')
)
"""


def resources_running_at(*, at: datetime) -> bool:
    """Whether any resource is still running after its events up to `at` (included):
    what makes the billing month that starts at `at` bill. One query."""
    with connection.cursor() as cursor:
        cursor.execute(_RUNNING_SQL.format(table=LifecycleEvent._meta.db_table), [at])
        return bool(cursor.fetchone()[0])
