"""SLA credits as negative lines (DB-free): scope, dependents, windows, overlaps."""

from datetime import UTC, datetime
from decimal import Decimal

from catalog.domain.matching import DurationPrice
from core.money import round_money
from core.periods import Period
from invoicing.domain.credit_lines import CoveredResource, CreditSpec, build_credit_lines
from invoicing.domain.lines import AccountWindow, ResourceTimeline, build_duration_lines
from metering.domain.timeline import LifecycleEvent, LifecycleKind

OCT = Period(start=datetime(2020, 10, 1, tzinfo=UTC), end=datetime(2020, 11, 1, tzinfo=UTC))
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
ORG, OTHER_ORG, PROJECT, OTHER_PROJECT, ACCOUNT = 1, 2, 7, 8, 10
PRICES = [
    DurationPrice(price_id="1", metric="instance", variant=None, region=None, service_class=None,
                  valid_from=EPOCH, rate=Decimal("0.10"), unit="minute"),
    DurationPrice(price_id="2", metric="disk", variant=None, region=None, service_class=None,
                  valid_from=EPOCH, rate=Decimal("0.05"), unit="minute"),
]
SEED_WINDOW = Period(start=datetime(2020, 10, 15, 23, tzinfo=UTC),
                     end=datetime(2020, 10, 16, 4, 30, tzinfo=UTC))


def at(*args):
    return datetime(*args, tzinfo=UTC)


SEPTEMBER = datetime(2020, 9, 1, tzinfo=UTC)


def _fleet(instances=15, project=PROJECT, since=SEPTEMBER, region="mars", start_pk=0):
    timelines, covered = [], []
    for i in range(instances):
        for offset, metric, variant in ((0, "instance", "4cpu-16gb"), (1000, "disk", "500gb")):
            pk = start_pk + i + offset
            timelines.append(ResourceTimeline(
                pk=pk, resource_id=f"{metric}-{pk}", metric_key=metric, project_id=project,
                region=region, service_class="standard",
                events=(LifecycleEvent(kind=LifecycleKind.CREATED, at=since, variant=variant),)))
            covered.append(CoveredResource(
                pk=pk, resource_id=f"{metric}-{pk}", project_id=project,
                organization_id=ORG if project == PROJECT else OTHER_ORG, metric_key=metric,
                region=region, parent_pk=(start_pk + i) if metric == "disk" else None))
    return timelines, covered


def _credit_lines(credits, timelines, covered, projects=(PROJECT,)):
    assignments = [AccountWindow(project_id=p, billing_account_id=ACCOUNT, valid_from=EPOCH,
                                 valid_to=None) for p in projects]
    rating = build_duration_lines(resources=timelines, prices=PRICES, assignments=assignments,
                                  cycle=OCT, until=OCT.end)
    return build_credit_lines(credits=credits, resources=covered, segments=rating.segments)


def test_the_seed_credit_covers_instances_and_their_disks_through_dependency():
    timelines, covered = _fleet()
    credit = CreditSpec(credit_id=1, name="Downgraded instances",
                        description="Credit for downgraded instances in Region Mars",
                        window=SEED_WINDOW, organization_id=ORG, region="mars",
                        metric_key="instance")

    lines = _credit_lines([credit], timelines, covered)

    by_metric = {line.key.metric_key: line for line in lines}
    assert round_money(by_metric["instance"].amount, "USD") == Decimal("-495.00")
    assert round_money(by_metric["disk"].amount, "USD") == Decimal("-247.50")
    assert by_metric["instance"].quantity == Decimal(15 * 330)
    assert len(by_metric["disk"].resource_ids) == 15
    assert (by_metric["disk"].start, by_metric["disk"].end) == (SEED_WINDOW.start,
                                                               SEED_WINDOW.end)


def test_a_window_that_starts_before_the_resource_credits_only_its_running_time():
    timelines, covered = _fleet(instances=1, since=at(2020, 10, 16, 2))
    credit = CreditSpec(credit_id=1, name="Outage", description="d", window=SEED_WINDOW,
                        project_id=PROJECT)
    lines = _credit_lines([credit], timelines, covered)
    instance = next(line for line in lines if line.key.metric_key == "instance")
    assert instance.quantity == Decimal(150)  # 02:00 to 04:30
    assert round_money(instance.amount, "USD") == Decimal("-15.00")


def test_overlapping_credits_never_credit_a_resource_second_twice():
    timelines, covered = _fleet(instances=1)
    first = CreditSpec(credit_id=1, name="A", description="a", project_id=PROJECT,
                       window=Period(start=at(2020, 10, 2, 0), end=at(2020, 10, 2, 2)))
    second = CreditSpec(credit_id=2, name="B", description="b", project_id=PROJECT,
                        window=Period(start=at(2020, 10, 2, 1), end=at(2020, 10, 2, 3)))
    lines = _credit_lines([first, second], timelines, covered)
    instance = {line.key.credit_id: line.quantity for line in lines
                if line.key.metric_key == "instance"}
    assert instance == {1: Decimal(120), 2: Decimal(60)}


def test_a_project_scoped_credit_does_not_touch_another_project():
    mine, mine_covered = _fleet(instances=2)
    theirs, theirs_covered = _fleet(instances=2, project=OTHER_PROJECT, start_pk=500)
    credit = CreditSpec(credit_id=1, name="A", description="a", window=SEED_WINDOW,
                        project_id=PROJECT)
    lines = _credit_lines([credit], mine + theirs, mine_covered + theirs_covered,
                          projects=(PROJECT, OTHER_PROJECT))
    assert {line.key.project_id for line in lines} == {PROJECT}
    assert sum(len(line.resource_ids) for line in lines) == 4


def test_a_credit_never_exceeds_what_was_charged():
    timelines, covered = _fleet(instances=1, since=at(2020, 10, 10))
    everything = CreditSpec(credit_id=1, name="All", description="a", project_id=PROJECT,
                            window=Period(start=at(2020, 1, 1), end=at(2021, 1, 1)))
    lines = _credit_lines([everything], timelines, covered)
    instance = next(line for line in lines if line.key.metric_key == "instance")
    assert instance.quantity == Decimal(22 * 1440)  # Oct 10 to Nov 1, all of it and no more
