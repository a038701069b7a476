"""Selectors of metering: the rating run's input, dependents, ingestion health."""

from datetime import UTC, date, datetime, timedelta

from core.periods import Period
from metering.domain.timeline import LifecycleEvent as RatedEvent
from metering.domain.timeline import LifecycleKind, RunningInterval, running_intervals
from metering.lifecycle_ingest import lifecycle_events_ingest
from metering.models import Resource
from metering.selectors import (
    IngestionCounts,
    ResourceLifecycle,
    ingestion_health,
    lifecycle_for_period,
    resources_depending_on,
)
from tests.metering.conftest import NOW, event

NOVEMBER = Period(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 12, 1, tzinfo=UTC))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def ingest(*items):
    # Received once December's events have happened (the future horizon refuses others).
    result = lifecycle_events_ingest(items=list(items), now=NOW + timedelta(days=10))
    assert result.refused == 0, result.items
    return result


def test_lifecycle_for_period_returns_what_could_have_run_with_earlier_events(
    fleet, django_assert_max_num_queries
):
    ingest(
        # Running since October, resized in November, still running.
        event("a1", resource_id="i-a", at="2026-10-20T00:00:00Z"),
        event("a2", "stopped", resource_id="i-a", at="2026-10-25T00:00:00Z"),
        event("a3", "started", resource_id="i-a", at="2026-11-02T00:00:00Z"),
        event("a4", "resized", resource_id="i-a", at="2026-11-02T00:00:00Z",
              variant="8cpu-32gb"),
        # Deleted before November: left out.
        event("b1", resource_id="i-b", at="2026-10-01T00:00:00Z"),
        event("b2", "deleted", resource_id="i-b", at="2026-10-31T23:59:59Z"),
        # Created after November: left out; its December events are not returned.
        event("c1", resource_id="i-c", at="2026-12-01T00:00:00Z"),
        # Deleted exactly at the start: kept (harmless, runs zero seconds).
        event("d1", resource_id="i-d", at="2026-10-01T00:00:00Z", region="venus",
              service_class="spot"),
        event("d2", "deleted", resource_id="i-d", at="2026-11-01T00:00:00Z", region="venus",
              service_class="spot"),
        # Its creation has not arrived yet: returned, marked incomplete.
        event("e2", "stopped", resource_id="d-e", at="2026-11-10T00:00:00Z",
              resource_type="disk", variant="500gb", parent_resource_id="i-a"),
        event("a5", "stopped", resource_id="i-a", at="2026-12-02T00:00:00Z",
              variant="8cpu-32gb"),
    )
    pks = dict(Resource.objects.values_list("resource_id", "id"))
    with django_assert_max_num_queries(4):  # two queries, plus django-tenants' search_path
        resources = lifecycle_for_period(period=NOVEMBER)

    assert [r.resource_id for r in resources] == ["d-e", "i-a", "i-d"]
    disk, instance, spot = resources
    assert instance == ResourceLifecycle(
        pk=pks["i-a"], resource_id="i-a", metric_key="instance", project_id=fleet.adventure.pk,
        region="mars", service_class="standard", parent_pk=None,
        events=(
            RatedEvent(kind=LifecycleKind.CREATED, at=utc(2026, 10, 20), variant="4cpu-16gb"),
            RatedEvent(kind=LifecycleKind.STOPPED, at=utc(2026, 10, 25), variant="4cpu-16gb"),
            RatedEvent(kind=LifecycleKind.STARTED, at=utc(2026, 11, 2), variant="4cpu-16gb"),
            RatedEvent(kind=LifecycleKind.RESIZED, at=utc(2026, 11, 2), variant="8cpu-32gb"),
        ),
    )
    assert instance.complete
    assert (spot.region, spot.service_class, len(spot.events)) == ("venus", "spot", 2)
    assert disk.parent_pk == pks["i-a"] and disk.metric_key == "disk"
    assert not disk.complete
    # What rating makes of it: 4cpu from the start... nothing (stopped), then 8cpu.
    assert running_intervals(instance.events, until=NOVEMBER.end) == [
        RunningInterval(period=Period(start=utc(2026, 10, 20), end=utc(2026, 10, 25)),
                        variant="4cpu-16gb"),
        RunningInterval(period=Period(start=utc(2026, 11, 2), end=NOVEMBER.end),
                        variant="8cpu-32gb"),
    ]


def test_lifecycle_for_period_costs_the_same_for_many_resources(
    fleet, django_assert_max_num_queries
):
    ingest(*[event(f"e{n}", resource_id=f"i-{n}") for n in range(200)])
    with django_assert_max_num_queries(4):
        assert len(lifecycle_for_period(period=NOVEMBER)) == 200


def test_resources_depending_on_follows_the_chain(fleet):
    ingest(
        event("i", resource_id="i-1"),
        event("d", resource_id="d-1", resource_type="disk", variant="500gb",
              parent_resource_id="i-1"),
        event("n", resource_id="n-1", resource_type="disk", variant="500gb",
              parent_resource_id="d-1"),
        event("o", resource_id="i-2"),
        event("p", resource_id="d-2", resource_type="disk", variant="500gb",
              parent_resource_id="i-2"),
    )
    pks = dict(Resource.objects.values_list("resource_id", "id"))
    assert resources_depending_on(pks=[pks["i-1"]]) == {pks["d-1"], pks["n-1"]}
    assert resources_depending_on(pks=[pks["d-1"], pks["i-2"]]) == {pks["n-1"], pks["d-2"]}
    assert resources_depending_on(pks=[pks["n-1"]]) == set()
    assert resources_depending_on(pks=[]) == set()


def test_ingestion_health_reports_each_stream_of_the_day(fleet):
    lifecycle_events_ingest(items=[event("e1"), event("e1"), event("e2", region="x")], now=NOW)
    assert ingestion_health(day=NOW.date()) == [
        IngestionCounts(day=NOW.date(), stream="lifecycle", accepted=1, duplicate=1,
                        refused=1),
        IngestionCounts(day=NOW.date(), stream="usage", accepted=0, duplicate=0, refused=0),
    ]
    assert ingestion_health(day=date(2026, 11, 24))[0].received == 0
