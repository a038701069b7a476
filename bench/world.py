"""A chargeback provider's data at scale, for the rating and month-close benchmarks.

The catalog, organizations, accounts and projects go through the ORM (a few
thousand rows); resources and their lifecycle events are bulk-loaded with COPY
(they are what scales), event ids claimed in the ids table as ingestion would.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import common

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class World:
    metric_id: int
    variants: list[str]
    project_ids: list[int]
    account_ids: list[int]


def catalog_and_accounts(*, organizations: int, accounts_per_org: int, projects_per_account: int,
                         variants: int) -> World:
    from accounts.models import BillingAccount, Organization, Project, ProjectAccountAssignment
    from catalog.models import Aggregation, Metric, Price, PriceList, PriceListKind, Region, Variant

    metric = Metric.objects.create(key="instance", name="Instance",
                                   aggregation=Aggregation.DURATION, unit="instance")
    names = [f"v{n:02d}" for n in range(variants)]
    Variant.objects.bulk_create([Variant(metric=metric, key=v, description=f"Variant {v}")
                                 for v in names])
    Region.objects.create(key="mars", name="Mars")
    price_list, _ = PriceList.objects.get_or_create(
        key="list", defaults={"name": "List prices", "kind": PriceListKind.LIST})
    Price.objects.bulk_create([
        Price(price_list=price_list, metric=metric, variant=v, rate=Decimal("0.0125") * (n + 1),
              time_unit="hour", valid_from=EPOCH)
        for n, v in enumerate(names)
    ])
    orgs = Organization.objects.bulk_create([
        Organization(name=f"org-{n:05d}", display_name=f"Org {n}") for n in range(organizations)
    ])
    accounts = BillingAccount.objects.bulk_create([
        BillingAccount(organization=org, name=f"Account {a}", is_default=a == 0)
        for org in orgs for a in range(accounts_per_org)
    ])
    projects = Project.objects.bulk_create([
        Project(name=f"p-{account.pk}-{n}", organization=account.organization)
        for account in accounts for n in range(projects_per_account)
    ])
    by_name = {f"p-{a.pk}-{n}": a for a in accounts for n in range(projects_per_account)}
    ProjectAccountAssignment.objects.bulk_create([
        ProjectAccountAssignment(project=p, billing_account=by_name[p.name], valid_from=EPOCH)
        for p in projects
    ])
    return World(metric_id=metric.pk, variants=names, project_ids=[p.pk for p in projects],
                 account_ids=[a.pk for a in accounts])


def resources_copy(world: World, *, count: int, events_each: int, start: datetime,
                   span: timedelta, resize: bool) -> int:
    """COPY `count` resources, each with `events_each` lifecycle events in
    [start, start + span): created, then stopped/started alternately (resize: a
    resized to the next variant each time instead). Returns the events written."""
    from django.db import connection

    now = datetime.now(UTC)
    raw = connection.connection
    with raw.cursor() as cursor:
        with cursor.copy("COPY metering_resource (resource_id, metric_id, project_id, variant, "
                         "region, service_class, attributes, created_at) FROM STDIN") as copy:
            for n in range(count):
                last = (events_each - 1) % len(world.variants) if resize else 0
                copy.write_row((f"r-{n:07d}", world.metric_id,
                                world.project_ids[n % len(world.project_ids)],
                                world.variants[last], "mars", "standard", "{}", now))
        cursor.execute("SELECT resource_id, id FROM metering_resource")
        pks = dict(cursor.fetchall())
        step = span / events_each
        started = time.perf_counter()
        total = count * events_each
        written = 0
        with cursor.copy("COPY metering_lifecycleevent (event_id, resource_id, kind, "
                         "occurred_at, variant, received_at) FROM STDIN") as copy:
            for n in range(count):
                pk = pks[f"r-{n:07d}"]
                offset = timedelta(seconds=n % 3600)
                for k in range(events_each):
                    if k == 0:
                        kind, variant = "created", world.variants[0]
                    elif resize:
                        kind, variant = "resized", world.variants[k % len(world.variants)]
                    else:
                        kind, variant = ("stopped" if k % 2 else "started"), world.variants[0]
                    copy.write_row((f"le-{n}-{k}", pk, kind, start + offset + step * k,
                                    variant, now))
                written += events_each
                if n % 2000 == 0 or written == total:
                    common.progress(written, total, "lifecycle events (COPY)", started)
        cursor.execute("INSERT INTO metering_lifecycleevent_ids (event_id) "
                       "SELECT event_id FROM metering_lifecycleevent")
    if not raw.autocommit:
        raw.commit()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE metering_lifecycleevent; ANALYZE metering_resource")
    return written
