"""Running time summed in SQL (invoicing/duration_sql.py) bills exactly what rating
resource by resource (`build_duration_lines`) bills: the same lines, units, resources
and reported gaps, on varied timelines, prices and account moves."""

import random
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import ProjectAccountAssignment
from accounts.selectors import assignments_for_period
from catalog.models import Region, Variant
from catalog.selectors import prices_for_rating
from core.money import round_money
from core.periods import Period
from invoicing.domain.lines import build_duration_lines
from invoicing.duration_sql import duration_rating_sql
from invoicing.models import Invoice
from invoicing.rating_run import rating_run
from metering.models import LifecycleEvent, Resource
from metering.selectors import lifecycle_for_period
from tenancy.selectors import provider_current
from tests.conftest import inside
from tests.factories import make_org, make_price, make_project, make_resource_type
from tests.invoicing.builders import NOV_START, OCT_START, at, make_cycle

VARIANTS = {"instance": ["small", "large", "huge"], "disk": ["100gb"]}
KINDS = ["started", "stopped", "started", "stopped", "resized", "started"]


def _catalog():
    instance = make_resource_type("instance", "Instance", {"small": "S", "large": "L"})
    Variant.objects.create(metric=instance, key="huge", description="H")
    disk = make_resource_type("disk", "Disk", {"100gb": "100 GB"})
    for key in ("mars", "venus"):
        Region.objects.get_or_create(key=key, defaults={"name": key.title()})
    change = at(2020, 10, 12, 13, 17, 5)
    make_price(instance, "0.10", "minute", variant="small", valid_to=change)
    make_price(instance, "0.12", "minute", variant="small", valid_from=change)
    make_price(instance, "2.5", "hour", variant="large")
    make_price(instance, "3", "hour", variant="large", region="venus")
    make_price(instance, "0.5", "day", service_class="premium")
    make_price(instance, "7", "day", variant="huge", valid_from=at(2020, 10, 20))
    make_price(disk, "0.001", "second", variant="100gb", valid_to=at(2020, 10, 25))
    return {"instance": instance, "disk": disk}


def _accounts():
    a, b = make_org("alpha"), make_org("bravo")
    account_b = b.billing_accounts.get()
    projects = [make_project("p-stays", a), make_project("p-moves", a),
                make_project("p-late", b, since=at(2020, 10, 15, 8)), make_project("p-b", b)]
    moved = ProjectAccountAssignment.objects.get(project=projects[1])
    moved.valid_to = at(2020, 10, 10, 6, 30)
    moved.save()
    ProjectAccountAssignment.objects.create(project=projects[1], billing_account=account_b,
                                            valid_from=moved.valid_to)
    return projects


def _world(seed: int, resources: int = 60) -> None:
    rng = random.Random(seed)
    metrics, projects = _catalog(), _accounts()
    # Lines group one creator's resources (spend per user): some name nobody.
    creators = [None, *(get_user_model().objects.create(username=name) for name in ("ada", "bo"))]
    events = []
    for n in range(resources):
        metric_key = rng.choice(["instance", "instance", "disk"])
        variant = rng.choice(VARIANTS[metric_key])
        resource = Resource.objects.create(
            resource_id=f"r-{n}", metric=metrics[metric_key], project=rng.choice(projects),
            variant=variant, region=rng.choice(["mars", "venus"]),
            service_class=rng.choice(["standard", "premium"]), created_by=rng.choice(creators),
        )
        when = at(2020, 9, 25) + timedelta(seconds=rng.randrange(0, 35 * 86400))
        timeline = [("created", when, variant)]
        if n % 13 == 5:  # arrived before its `created`: waits for it
            timeline.append(("started", when - timedelta(hours=3), variant))
        for _ in range(rng.randrange(0, 14)):
            when += rng.choice([timedelta(0), timedelta(seconds=rng.randrange(1, 90)),
                                timedelta(microseconds=rng.randrange(1, 10**6)),
                                timedelta(seconds=rng.randrange(60, 4 * 86400))])
            kind = rng.choice(KINDS)
            if kind == "resized":
                variant = rng.choice(VARIANTS[metric_key])
            timeline.append((kind, when, variant))
        if n % 7 == 3:
            timeline.append(("deleted", when + timedelta(hours=rng.randrange(0, 200)), variant))
        if n % 17 == 4:  # contradicts itself: something after `deleted`, or created twice
            timeline.append(("stopped" if n % 2 else "created", when + timedelta(days=1), variant))
        events += [LifecycleEvent(event_id=f"e-{n}-{k}", resource=resource, kind=kind,
                                  occurred_at=t, variant=v, received_at=t)
                   for k, (kind, t, v) in enumerate(timeline)]
    # Two that contradict themselves early in the month, whatever the seed.
    for name, kinds in (("r-deleted-then-started", ["created", "deleted", "started"]),
                        ("r-created-twice", ["created", "stopped", "created"])):
        resource = Resource.objects.create(
            resource_id=name, metric=metrics["disk"], project=projects[0], variant="100gb",
            region="mars", service_class="standard")
        events += [LifecycleEvent(event_id=f"e-{name}-{k}", resource=resource, kind=kind,
                                  occurred_at=at(2020, 10, 2 + k), variant="100gb",
                                  received_at=at(2020, 10, 2 + k))
                   for k, kind in enumerate(kinds)]
    LifecycleEvent.objects.bulk_create(events)


def _comparable(rating):
    lines = [(line.key, line.quantity, set(line.resource_pks), set(line.running_pks),
              line.start, line.end) for line in rating.lines]
    unbilled = sorted((u.resource_id, u.period.start, u.period.end, u.reason)
                      for u in rating.unbilled)
    return lines, unbilled


def _both(until: datetime, project_ids=None):
    cycle = Period(start=OCT_START, end=NOV_START)
    rated = Period(start=OCT_START, end=until)
    prices = prices_for_rating(period=cycle)
    assignments = assignments_for_period(period=cycle)
    if project_ids is not None:
        assignments = [a for a in assignments if a.project_id in project_ids]
    reference = build_duration_lines(
        resources=lifecycle_for_period(period=rated, project_ids=project_ids),
        prices=prices, assignments=assignments, cycle=cycle, until=until)
    with transaction.atomic():
        summed, count = duration_rating_sql(rated=rated, cycle=cycle, prices=prices,
                                            assignments=assignments, project_ids=project_ids)
    return reference, summed, count


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("until", [at(2020, 10, 17, 10, 0, 0, 500_000), NOV_START],
                         ids=["mid-cycle", "cycle-end"])
def test_sql_rating_bills_what_rating_one_by_one_bills(beta, seed, until):
    with inside(beta):
        _world(seed)
        reference, summed, count = _both(until)

        assert _comparable(summed) == _comparable(reference)
        assert count == len(lifecycle_for_period(period=Period(start=OCT_START, end=until)))
        # The varied world does exercise every kind of line and every kind of gap.
        assert len(reference.lines) > 10
        assert {u.reason for u in reference.unbilled} >= {
            "no price in force for this resource type, variant, region and class",
            "the project bills to no billing account at that time",
            "the resource's lifecycle events contradict each other"}


def test_sql_rating_of_some_projects_bills_what_rating_them_one_by_one_bills(beta):
    with inside(beta):
        _world(4)
        some = set(ProjectAccountAssignment.objects.filter(project__name__in=["p-moves", "p-b"])
                   .values_list("project_id", flat=True))
        reference, summed, count = _both(NOV_START, project_ids=some)

        assert _comparable(summed) == _comparable(reference)
        assert reference.lines and count == len(lifecycle_for_period(
            period=Period(start=OCT_START, end=NOV_START), project_ids=some))


def test_the_rating_run_writes_drafts_to_the_cent_of_rating_one_by_one(beta):
    with inside(beta):
        _world(5)
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        cycle = Period(start=OCT_START, end=NOV_START)
        reference = build_duration_lines(
            resources=lifecycle_for_period(period=cycle), prices=prices_for_rating(period=cycle),
            assignments=assignments_for_period(period=cycle), cycle=cycle, until=NOV_START)
        currency, expected = provider_current().currency, defaultdict(Decimal)
        for line in reference.lines:
            expected[line.key.billing_account_id] += round_money(line.amount, currency)

        rating_run(cycle=october, now=at(2020, 11, 2))

        written = {i.billing_account_id: i.subtotal for i in Invoice.objects.filter(cycle=october)}
        assert written == dict(expected)
