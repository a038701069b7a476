"""Draft lines from resources, prices and project assignments (DB-free)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from catalog.domain.matching import DurationPrice, price_segments
from core.money import round_money
from core.periods import Period
from invoicing.domain.lines import (
    NO_ACCOUNT,
    UNPRICED,
    AccountWindow,
    LineAggregate,
    ResourceTimeline,
    build_duration_lines,
    lines_with_aggregates,
    priced_spans,
)
from metering.domain.timeline import LifecycleEvent, LifecycleKind

OCT = Period(start=datetime(2020, 10, 1, tzinfo=UTC), end=datetime(2020, 11, 1, tzinfo=UTC))
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
ACCOUNT, OTHER_ACCOUNT, PROJECT = 10, 11, 7


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def price(pid, metric, rate, unit, *, variant=None, region=None, service_class=None,
          valid_from=EPOCH, valid_to=None) -> DurationPrice:
    return DurationPrice(price_id=pid, metric=metric, variant=variant, region=region,
                         service_class=service_class, valid_from=valid_from, valid_to=valid_to,
                         rate=Decimal(rate), unit=unit)


def resource(pk, metric, variant, *events, region="mars", service_class="standard",
             project=PROJECT) -> ResourceTimeline:
    evs = [LifecycleEvent(kind=LifecycleKind.CREATED, at=events[0], variant=variant)]
    for kind, when, *rest in events[1:]:
        evs.append(LifecycleEvent(kind=kind, at=when, variant=rest[0] if rest else None))
    return ResourceTimeline(pk=pk, resource_id=f"r-{pk}", metric_key=metric, project_id=project,
                            region=region, service_class=service_class, events=tuple(evs))


ALWAYS = [AccountWindow(project_id=PROJECT, billing_account_id=ACCOUNT, valid_from=EPOCH,
                        valid_to=None)]
SEED_PRICES = [price("p-inst", "instance", "0.10", "minute", variant="4cpu-16gb"),
               price("p-disk", "disk", "0.05", "minute", variant="500gb")]


def test_the_seed_invoice_two_lines_of_fifteen_resources_each():
    resources = [resource(i, "instance", "4cpu-16gb", at(2020, 9, 20)) for i in range(15)]
    resources += [resource(100 + i, "disk", "500gb", at(2020, 9, 20)) for i in range(15)]

    rating = build_duration_lines(resources=resources, prices=SEED_PRICES, assignments=ALWAYS,
                                  cycle=OCT, until=OCT.end)

    by_metric = {line.key.metric_key: line for line in rating.lines}
    instances, disks = by_metric["instance"], by_metric["disk"]
    assert len(instances.resource_pks) == 15 and len(disks.resource_pks) == 15
    assert instances.quantity == Decimal(15 * 44640)
    assert round_money(instances.amount, "USD") == Decimal("66960.00")
    assert round_money(disks.amount, "USD") == Decimal("33480.00")
    assert (instances.start, instances.end) == (OCT.start, OCT.end)
    # All 15 still run at the cycle's end: the daily rate is 15 x 1440 min x $0.10.
    assert instances.daily_rate == Decimal("2160.00")
    assert rating.unbilled == ()


def test_a_draft_rates_up_to_now_only():
    now = at(2020, 10, 10, 12, 0, 30)
    r = resource(1, "instance", "4cpu-16gb", at(2020, 10, 1))
    rating = build_duration_lines(resources=[r], prices=SEED_PRICES, assignments=ALWAYS,
                                  cycle=OCT, until=now)
    (line,) = rating.lines
    # 9.5 days and 30 seconds: 13,680 whole minutes plus one started minute.
    assert line.quantity == Decimal(13681)
    assert line.end == now


def test_ceil_applies_per_running_interval():
    r = resource(1, "instance", "4cpu-16gb", at(2020, 10, 1),
                 (LifecycleKind.STOPPED, at(2020, 10, 1, 0, 0, 1)),
                 (LifecycleKind.STARTED, at(2020, 10, 1, 0, 5)),
                 (LifecycleKind.STOPPED, at(2020, 10, 1, 0, 5, 1)))
    rating = build_duration_lines(resources=[r], prices=SEED_PRICES, assignments=ALWAYS,
                                  cycle=OCT, until=OCT.end)
    (line,) = rating.lines
    assert line.quantity == Decimal(2)
    assert line.running_pks == set()
    assert line.daily_rate == Decimal(0)


def test_a_project_moved_mid_cycle_bills_each_side_to_its_account():
    move = at(2020, 10, 16, 12)
    assignments = [
        AccountWindow(project_id=PROJECT, billing_account_id=ACCOUNT, valid_from=EPOCH,
                      valid_to=move),
        AccountWindow(project_id=PROJECT, billing_account_id=OTHER_ACCOUNT, valid_from=move,
                      valid_to=None),
    ]
    r = resource(1, "instance", "4cpu-16gb", at(2020, 9, 1))
    rating = build_duration_lines(resources=[r], prices=SEED_PRICES, assignments=assignments,
                                  cycle=OCT, until=OCT.end)
    by_account = {line.key.billing_account_id: line for line in rating.lines}
    assert by_account[ACCOUNT].quantity == Decimal(15 * 1440 + 720)
    assert by_account[OTHER_ACCOUNT].quantity == Decimal(15 * 1440 + 720)
    assert by_account[ACCOUNT].end == move == by_account[OTHER_ACCOUNT].start


def test_a_scheduled_price_splits_the_cycle_into_two_lines():
    change = at(2020, 10, 20)
    prices = [price("old", "instance", "0.10", "minute", valid_to=change),
              price("new", "instance", "0.20", "minute", valid_from=change)]
    r = resource(1, "instance", "4cpu-16gb", at(2020, 9, 1))
    rating = build_duration_lines(resources=[r], prices=prices, assignments=ALWAYS, cycle=OCT,
                                  until=OCT.end)
    old, new = rating.lines
    assert (old.key.price_id, old.quantity) == ("old", Decimal(19 * 1440))
    assert (new.key.price_id, new.quantity) == ("new", Decimal(12 * 1440))
    assert round_money(old.amount + new.amount, "USD") == Decimal("6192.00")


def test_region_and_class_pick_the_most_specific_price_spot_vs_standard():
    prices = [price("any", "instance", "0.10", "hour"),
              price("mars-spot", "instance", "0.03", "hour", region="mars",
                    service_class="spot")]
    spot = resource(1, "instance", "x", at(2020, 10, 1), service_class="spot")
    standard = resource(2, "instance", "x", at(2020, 10, 1))
    rating = build_duration_lines(resources=[spot, standard], prices=prices, assignments=ALWAYS,
                                  cycle=OCT, until=at(2020, 10, 2))
    by_class = {line.key.service_class: line for line in rating.lines}
    assert by_class["spot"].key.price_id == "mars-spot"
    assert by_class["standard"].key.price_id == "any"
    assert by_class["spot"].quantity == by_class["standard"].quantity == Decimal(24)


def test_resized_resource_bills_each_variant_on_its_own_line():
    r = resource(1, "instance", "small", at(2020, 10, 1),
                 (LifecycleKind.RESIZED, at(2020, 10, 2), "large"))
    prices = [price("s", "instance", "1", "day", variant="small"),
              price("l", "instance", "2", "day", variant="large")]
    rating = build_duration_lines(resources=[r], prices=prices, assignments=ALWAYS, cycle=OCT,
                                  until=at(2020, 10, 4))
    assert [(ln.key.variant, ln.quantity) for ln in rating.lines] == [
        ("large", Decimal(2)), ("small", Decimal(1))]


def test_running_time_without_price_or_account_is_reported_not_dropped():
    r = resource(1, "vpc", "default", at(2020, 10, 1))
    no_account = resource(2, "instance", "4cpu-16gb", at(2020, 10, 1), project=99)
    rating = build_duration_lines(resources=[r, no_account], prices=SEED_PRICES,
                                  assignments=ALWAYS, cycle=OCT, until=at(2020, 10, 2))
    assert rating.lines == ()
    reasons = {(u.resource_id, u.reason) for u in rating.unbilled}
    assert reasons == {("r-1", UNPRICED), ("r-2", NO_ACCOUNT)}


def test_events_waiting_for_their_created_event_bill_nothing_yet():
    waiting = ResourceTimeline(
        pk=1, resource_id="r-1", metric_key="instance", project_id=PROJECT, region="mars",
        service_class="standard",
        events=(LifecycleEvent(kind=LifecycleKind.STOPPED, at=at(2020, 10, 5)),))
    rating = build_duration_lines(resources=[waiting], prices=SEED_PRICES, assignments=ALWAYS,
                                  cycle=OCT, until=OCT.end)
    assert rating.lines == () and rating.unbilled == ()


# Priced spans: what the SQL rating clips running time to (invoicing/duration_sql.py).
_SPAN_PRICES = [
    price("a", "vm", "1", "hour", variant="small", valid_to=at(2020, 10, 9, 12)),
    price("b", "vm", "2", "hour", variant="small", valid_from=at(2020, 10, 9, 12),
          valid_to=at(2020, 10, 20)),
    price("c", "vm", "3", "minute", region="venus", variant="small",
          valid_from=at(2020, 10, 15), valid_to=at(2020, 10, 18)),
    price("d", "vm", "5", "day", valid_from=at(2020, 10, 25)),
]


@given(start=st.integers(0, 31 * 86400 - 1), length=st.integers(1, 31 * 86400),
       region=st.sampled_from(["mars", "venus"]))
def test_an_interval_priced_alone_gets_its_overlaps_with_the_windows_priced_spans(
        start, length, region):
    interval = Period(start=OCT.start + timedelta(seconds=start),
                      end=min(OCT.end, OCT.start + timedelta(seconds=start + length)))
    alone = price_segments(_SPAN_PRICES, metric="vm", variant="small", region=region,
                           service_class="standard", period=interval)
    spans = priced_spans(combinations=[("vm", "small", region, "standard")],
                         prices=_SPAN_PRICES, window=OCT)
    clipped = [(s.period.overlap(interval), s.price) for s in spans
               if s.period.overlap(interval) is not None]
    assert clipped == alone


def test_sql_sums_add_to_the_lines_of_resources_rated_one_by_one():
    p = price("p", "vm", "0.10", "minute", variant="small")
    alone = build_duration_lines(
        resources=[resource(1, "vm", "small", at(2020, 10, 2))], prices=[p],
        assignments=[AccountWindow(project_id=PROJECT, billing_account_id=ACCOUNT,
                                   valid_from=EPOCH, valid_to=None)],
        cycle=OCT, until=OCT.end)
    summed = LineAggregate(
        billing_account_id=ACCOUNT, project_id=PROJECT, metric_key="vm", variant="small",
        region="mars", service_class="standard", price=p, units=Decimal(60),
        resource_pks=frozenset({2}), running_pks=frozenset(), start=at(2020, 10, 1),
        end=at(2020, 10, 1, 1))

    [line] = lines_with_aggregates([summed], alone).lines

    assert line.quantity == Decimal(30 * 1440 + 60)
    assert (line.resource_pks, line.running_pks) == ({1, 2}, {1})
    assert (line.start, line.end) == (at(2020, 10, 1), OCT.end)
