"""The usage store partitioned by month: the partitions are in the schema, ingestion
creates a new month's ahead of storing it, and stays idempotent and concurrency-safe
with event ids kept unique by the ids tables (migration metering/0003)."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django_tenants.utils import tenant_context

from accounts.models import BillingAccount, Organization, Project, ProjectAccountAssignment
from accounts.onboarding import provider_onboard
from catalog.models import Aggregation, Metric
from metering.lifecycle_ingest import lifecycle_events_ingest
from metering.models import IngestionDay, LifecycleEvent, UsageEvent
from metering.usage_ingest import usage_events_ingest
from tests.conftest import inside
from tests.factories import (
    make_org,
    make_project,
    make_region,
    make_resource_type,
    make_usage_event,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def partitions(table: str) -> dict[str, str]:
    """Partition name -> its bounds, for `table` in the current schema."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname
            """,
            [table],
        )
        return dict(cursor.fetchall())


def partition_of(table: str, event_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE event_id = %s",
                       [event_id])
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return rows[0][0].split(".")[-1]


def usage(event_id: str, at: str, value: str = "1") -> dict:
    return {"event_id": event_id, "metric": "requests", "project": "adventure",
            "occurred_at": at, "value": value}


def _catalog():
    org = make_org("mars-corp")
    make_project("adventure", org)
    make_region("mars")
    make_resource_type("instance", "Instance", {"4cpu-16gb": "4 CPU"})
    Metric.objects.create(key="requests", name="Requests", aggregation=Aggregation.SUM)


def test_both_event_tables_are_partitioned_by_month_with_a_default(alpha):
    with inside(alpha):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_class c "
                "WHERE c.relkind = 'p' AND c.relnamespace = to_regnamespace(%s) "
                "ORDER BY c.relname",
                [connection.schema_name],
            )
            partitioned = cursor.fetchall()
        assert ("metering_lifecycleevent", "RANGE (occurred_at)") in partitioned
        assert ("metering_usageevent", "RANGE (occurred_at)") in partitioned
        for table in ("metering_lifecycleevent", "metering_usageevent"):
            found = partitions(table)
            assert found.pop(f"{table}_default") == "DEFAULT"
            # The migration made the month it ran in and the three next: one UTC month each.
            assert len(found) >= 4
            for name, bounds in found.items():
                year, month = int(name[-7:-3]), int(name[-2:])
                following = f"{year + month // 12}-{month % 12 + 1:02d}"
                assert bounds == (f"FOR VALUES FROM ('{year}-{month:02d}-01 00:00:00+00') "
                                  f"TO ('{following}-01 00:00:00+00')")


def test_a_new_provider_clones_the_partitioned_store(db):
    provider = provider_onboard(name="Kappa", slug="kappa", admin_username="kim").provider
    with inside(provider):
        found = partitions("metering_usageevent")
        assert "metering_usageevent_default" in found
        assert len(found) >= 5
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef "
                           "WHERE adrelid = 'metering_usageevent'::regclass")
            # Ids come from the clone's own sequence, not the template's.
            assert cursor.fetchone()[0] == "nextval('metering_usageevent_id_seq'::regclass)"

# Ingested once those months have come: events further ahead than the provider's future
# horizon are refused (cycles.guard).
LATER = datetime(2033, 6, 1, tzinfo=UTC)


def test_ingestion_creates_the_month_partition_before_storing_and_stays_idempotent(alpha):
    with inside(alpha):
        _catalog()
        assert "metering_usageevent_p2031_05" not in partitions("metering_usageevent")

        first = usage_events_ingest(items=[usage("u-1", "2031-05-10T08:00:00Z", "2.5")],
                                    now=LATER)
        assert (first.accepted, first.duplicate) == (1, 0)
        found = partitions("metering_usageevent")
        assert found["metering_usageevent_p2031_05"] == (
            "FOR VALUES FROM ('2031-05-01 00:00:00+00') TO ('2031-06-01 00:00:00+00')"
        )
        assert partition_of("metering_usageevent", "u-1") == "metering_usageevent_p2031_05"

        again = usage_events_ingest(items=[usage("u-1", "2031-05-10T08:00:00Z", "2.5")],
                                    now=LATER)
        assert (again.accepted, again.duplicate) == (0, 1)
        assert again.items[0]["reason"] == "event 'u-1' was already received"
        assert UsageEvent.objects.filter(event_id="u-1").count() == 1
        assert UsageEvent.objects.get(event_id="u-1").value == Decimal("2.5")

        lifecycle = lifecycle_events_ingest(items=[{
            "event_id": "e-1", "resource_id": "i-1", "kind": "created",
            "resource_type": "instance", "variant": "4cpu-16gb", "project": "adventure",
            "region": "mars", "occurred_at": "2031-07-01T00:00:00Z",
        }], now=LATER)
        assert lifecycle.accepted == 1
        assert partition_of("metering_lifecycleevent", "e-1") == (
            "metering_lifecycleevent_p2031_07")
        assert LifecycleEvent.objects.get(event_id="e-1").resource.resource_id == "i-1"


def test_rows_of_a_month_in_the_default_partition_move_into_its_new_partition(alpha):
    with inside(alpha):
        _catalog()
        # Written around ingestion (the ORM): no partition for 2032-03, so the default.
        make_usage_event(
            event_id="early", metric=Metric.objects.get(key="requests"),
            project=Project.objects.get(name="adventure"),
            occurred_at=datetime(2032, 3, 2, tzinfo=UTC), value=Decimal(1), received_at=NOW,
        )
        assert partition_of("metering_usageevent", "early") == "metering_usageevent_default"

        result = usage_events_ingest(items=[usage("late", "2032-03-20T00:00:00Z"),
                                            usage("early", "2032-03-02T00:00:00Z")], now=LATER)
        assert [item["status"] for item in result.items] == ["accepted", "duplicate"]
        assert partition_of("metering_usageevent", "early") == "metering_usageevent_p2032_03"
        assert partition_of("metering_usageevent", "late") == "metering_usageevent_p2032_03"
        assert sorted(UsageEvent.objects.filter(occurred_at__year=2032)
                      .values_list("event_id", flat=True)) == ["early", "late"]


BATCHES = 6


def test_concurrent_batches_of_the_same_ids_store_each_event_once(
    django_db_setup, alpha_committed, django_db_blocker
):
    """Real threads with their own connections, on committed data (cleaned up after):
    overlapping batches race on the ids table; every id is stored once and answered
    accepted exactly once."""
    ids = [f"race-{n}" for n in range(300)]
    with django_db_blocker.unblock(), tenant_context(alpha_committed):
        org = make_org("race-corp")
        make_project("race-project", org)
        Metric.objects.create(key="race-requests", name="Race", aggregation=Aggregation.SUM)
    try:
        barrier = threading.Barrier(BATCHES)
        answers, errors = [], []

        def send(offset: int):
            # Each batch: the same 300 ids, rotated, so they collide in every order.
            batch = [{"event_id": i, "metric": "race-requests", "project": "race-project",
                      "occurred_at": "2026-11-20T00:00:00Z", "value": "1"}
                     for i in ids[offset:] + ids[:offset]]
            try:
                with django_db_blocker.unblock(), tenant_context(alpha_committed):
                    barrier.wait(timeout=30)
                    answers.append(usage_events_ingest(items=batch, now=NOW))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(n * 50,)) for n in range(BATCHES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert sum(a.accepted for a in answers) == len(ids)
        assert sum(a.duplicate for a in answers) == len(ids) * (BATCHES - 1)
        with django_db_blocker.unblock(), tenant_context(alpha_committed):
            stored = list(UsageEvent.objects.filter(project__name="race-project")
                          .values_list("event_id", flat=True))
            assert sorted(stored) == sorted(ids)
    finally:
        with django_db_blocker.unblock(), tenant_context(alpha_committed):
            UsageEvent.objects.filter(project__name="race-project").delete()
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM metering_usageevent_ids WHERE event_id = ANY(%s)",
                               [ids])
            IngestionDay.objects.filter(day=NOW.date(), stream="usage").delete()
            ProjectAccountAssignment.objects.filter(project__name="race-project").delete()
            Project.objects.filter(name="race-project").delete()
            BillingAccount.objects.filter(organization__name="race-corp").delete()
            Organization.objects.filter(name="race-corp").delete()
            Metric.objects.filter(key="race-requests").delete()
        connection.set_schema_to_public()
