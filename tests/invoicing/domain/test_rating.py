import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.domain.decimals import ERR_RATE_PLACES
from catalog.domain.matching import DurationPrice
from catalog.domain.pricing import line_amount
from catalog.domain.time_units import TimeUnit
from core.money import round_money
from core.periods import ERR_NAIVE, Period, month_period
from invoicing.domain.rating import RatedResource, rate_resource
from metering.domain.timeline import (
    ERR_AFTER_DELETE,
    ERR_CREATED_TWICE,
    ERR_NOT_CREATED,
    ERR_ORDER,
    ERR_VARIANT_REQUIRED,
    LifecycleEvent,
    LifecycleKind,
    RunningInterval,
    running_intervals,
)

D = Decimal
OCTOBER = month_period(2020, 10, "UTC")
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)

CREATED = LifecycleKind.CREATED
STARTED = LifecycleKind.STARTED
STOPPED = LifecycleKind.STOPPED
RESIZED = LifecycleKind.RESIZED
DELETED = LifecycleKind.DELETED


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def event(kind, at, variant=None):
    return LifecycleEvent(kind=kind, at=at, variant=variant)


def price(
    price_id,
    *,
    rate,
    unit=TimeUnit.MINUTE,
    metric="instance",
    variant="4cpu-16gb",
    region="mars",
    service_class=None,
    valid_from=EPOCH,
    valid_to=None,
):
    return DurationPrice(
        price_id=price_id,
        metric=metric,
        variant=variant,
        region=region,
        service_class=service_class,
        valid_from=valid_from,
        valid_to=valid_to,
        rate=D(rate),
        unit=unit,
    )


def instance(resource_id="i-1", region="mars"):
    return RatedResource(
        resource_id=resource_id, metric="instance", region=region, service_class="standard"
    )


def rate(events, *, prices, resource=None, until=None, cycle=OCTOBER):
    intervals = running_intervals(events, until=until or cycle.end)
    return rate_resource(
        resource=resource or instance(), intervals=intervals, cycle=cycle, prices=prices
    )


# Running intervals


def iv(start, end, variant="4cpu-16gb"):
    return (start, end, variant)


@pytest.mark.parametrize(
    ("events", "until", "expected"),
    [
        ([], utc(2020, 11, 1), []),
        (
            [event(CREATED, utc(2020, 10, 5), "4cpu-16gb")],
            utc(2020, 11, 1),
            [iv(utc(2020, 10, 5), utc(2020, 11, 1))],
        ),
        (
            [
                event(CREATED, utc(2020, 10, 1), "4cpu-16gb"),
                event(STOPPED, utc(2020, 10, 2)),
                event(STARTED, utc(2020, 10, 3)),
                event(DELETED, utc(2020, 10, 4)),
            ],
            utc(2020, 11, 1),
            [iv(utc(2020, 10, 1), utc(2020, 10, 2)), iv(utc(2020, 10, 3), utc(2020, 10, 4))],
        ),
        (  # repeated telemetry changes nothing
            [
                event(CREATED, utc(2020, 10, 1), "4cpu-16gb"),
                event(STARTED, utc(2020, 10, 1, 12)),
                event(STOPPED, utc(2020, 10, 2)),
                event(STOPPED, utc(2020, 10, 2, 12)),
                event(STARTED, utc(2020, 10, 3)),
            ],
            utc(2020, 10, 4),
            [iv(utc(2020, 10, 1), utc(2020, 10, 2)), iv(utc(2020, 10, 3), utc(2020, 10, 4))],
        ),
        (  # resized while running: one interval ends, another begins
            [
                event(CREATED, utc(2020, 10, 1), "4cpu-16gb"),
                event(RESIZED, utc(2020, 10, 2), "8cpu-32gb"),
                event(DELETED, utc(2020, 10, 3)),
            ],
            utc(2020, 11, 1),
            [
                iv(utc(2020, 10, 1), utc(2020, 10, 2)),
                iv(utc(2020, 10, 2), utc(2020, 10, 3), "8cpu-32gb"),
            ],
        ),
        (  # resized while stopped: the next start runs the new variant
            [
                event(CREATED, utc(2020, 10, 1), "4cpu-16gb"),
                event(STOPPED, utc(2020, 10, 2)),
                event(RESIZED, utc(2020, 10, 3), "8cpu-32gb"),
                event(STARTED, utc(2020, 10, 4)),
            ],
            utc(2020, 10, 5),
            [
                iv(utc(2020, 10, 1), utc(2020, 10, 2)),
                iv(utc(2020, 10, 4), utc(2020, 10, 5), "8cpu-32gb"),
            ],
        ),
        (  # events at or after `until` are ignored; the open interval ends at `until`
            [
                event(CREATED, utc(2020, 10, 1), "4cpu-16gb"),
                event(STOPPED, utc(2020, 10, 10)),
                event(STARTED, utc(2020, 10, 20)),
            ],
            utc(2020, 10, 5),
            [iv(utc(2020, 10, 1), utc(2020, 10, 5))],
        ),
        (
            [event(CREATED, utc(2020, 10, 1), "4cpu-16gb"), event(DELETED, utc(2020, 10, 5))],
            utc(2020, 10, 5),
            [iv(utc(2020, 10, 1), utc(2020, 10, 5))],
        ),
        (
            [event(CREATED, utc(2020, 11, 1), "4cpu-16gb")],
            utc(2020, 11, 1),
            [],
        ),
        (  # zero-length intervals are dropped
            [
                event(CREATED, utc(2020, 10, 1), "4cpu-16gb"),
                event(STOPPED, utc(2020, 10, 1)),
                event(STARTED, utc(2020, 10, 2)),
                event(RESIZED, utc(2020, 10, 2), "8cpu-32gb"),
            ],
            utc(2020, 10, 3),
            [iv(utc(2020, 10, 2), utc(2020, 10, 3), "8cpu-32gb")],
        ),
    ],
)
def test_running_intervals(events, until, expected):
    result = running_intervals(events, until=until)
    assert all(isinstance(interval, RunningInterval) for interval in result)
    assert [(i.period.start, i.period.end, i.variant) for i in result] == expected


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([event(STARTED, utc(2020, 10, 1))], ERR_NOT_CREATED),
        (
            [event(CREATED, utc(2020, 10, 2), "a"), event(STOPPED, utc(2020, 10, 1))],
            ERR_ORDER,
        ),
        (
            [event(CREATED, utc(2020, 10, 1), "a"), event(CREATED, utc(2020, 10, 2), "a")],
            ERR_CREATED_TWICE,
        ),
        (
            [
                event(CREATED, utc(2020, 10, 1), "a"),
                event(DELETED, utc(2020, 10, 2)),
                event(STARTED, utc(2020, 10, 3)),
            ],
            ERR_AFTER_DELETE,
        ),
    ],
)
def test_running_intervals_refuse_impossible_histories(events, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        running_intervals(events, until=utc(2020, 11, 1))


@pytest.mark.parametrize("kind", [CREATED, RESIZED])
def test_created_and_resized_need_a_variant(kind):
    with pytest.raises(ValueError, match=ERR_VARIANT_REQUIRED):
        event(kind, utc(2020, 10, 1))


def test_events_need_aware_instants():
    with pytest.raises(ValueError, match=ERR_NAIVE):
        event(STOPPED, datetime(2020, 10, 1))
    with pytest.raises(ValueError, match=ERR_NAIVE):
        running_intervals([], until=datetime(2020, 10, 1))


# The chargeback seed's sample invoice

SEED_PRICES = [
    price("instance-mars", rate="0.10"),
    price("instance-any-region", rate="0.50", region=None),  # outranked by the mars price
    price("disk-mars", rate="0.05", metric="disk", variant="500gb"),
]


def test_seed_sample_invoice():
    instance_quantities = []
    disk_quantities = []
    for number in range(1, 16):
        instance_events = [event(CREATED, utc(2020, 9, 20), "4cpu-16gb")]
        disk_events = [event(CREATED, utc(2020, 9, 20), "500gb")]
        instance_rating = rate(
            instance_events,
            prices=SEED_PRICES,
            resource=instance(f"i-{number}"),
            until=utc(2020, 11, 5),
        )
        disk = RatedResource(
            resource_id=f"d-{number}", metric="disk", region="mars", service_class=None
        )
        disk_rating = rate(disk_events, prices=SEED_PRICES, resource=disk, until=utc(2020, 11, 5))
        instance_quantities.extend(instance_rating.quantities)
        disk_quantities.extend(disk_rating.quantities)

    assert {(q.price_id, q.rate, q.unit, q.quantity) for q in instance_quantities} == {
        ("instance-mars", D("0.10"), TimeUnit.MINUTE, D(44640))
    }
    assert {(q.price_id, q.rate, q.quantity) for q in disk_quantities} == {
        ("disk-mars", D("0.05"), D(44640))
    }
    assert len(instance_quantities) == len(disk_quantities) == 15

    instance_units = sum((q.quantity for q in instance_quantities), D(0))
    disk_units = sum((q.quantity for q in disk_quantities), D(0))
    assert instance_units == D(669600)
    assert str(line_amount(quantity=instance_units, rate=D("0.10"), currency="USD")) == "66960.00"
    assert str(line_amount(quantity=disk_units, rate=D("0.05"), currency="USD")) == "33480.00"
    # The same line from the unrounded amounts of its resources:
    assert round_money(sum((q.amount for q in instance_quantities), D(0)), "USD") == D("66960.00")
    assert instance_quantities[0].covered == OCTOBER


# Units: ceil per interval

NINETY_SECONDS = [
    event(CREATED, utc(2020, 10, 1), "4cpu-16gb"),
    event(STOPPED, utc(2020, 10, 1, 0, 1, 30)),
]
TWICE_THIRTY_SECONDS = [
    event(CREATED, utc(2020, 10, 1), "4cpu-16gb"),
    event(STOPPED, utc(2020, 10, 1, 0, 0, 30)),
    event(STARTED, utc(2020, 10, 1, 1)),
    event(STOPPED, utc(2020, 10, 1, 1, 0, 30)),
]
WHOLE_OCTOBER_AND_MORE = [
    event(CREATED, utc(2020, 9, 30, 23, 59, 30), "4cpu-16gb"),
    event(DELETED, utc(2020, 11, 1, 0, 0, 30)),
]


@pytest.mark.parametrize(
    ("events", "unit", "units"),
    [
        (NINETY_SECONDS, TimeUnit.SECOND, "90"),
        (NINETY_SECONDS, TimeUnit.MINUTE, "2"),
        (NINETY_SECONDS, TimeUnit.HOUR, "1"),
        (NINETY_SECONDS, TimeUnit.DAY, "1"),
        # Two 30-second runs: each started minute, hour or day is billed.
        (TWICE_THIRTY_SECONDS, TimeUnit.SECOND, "60"),
        (TWICE_THIRTY_SECONDS, TimeUnit.MINUTE, "2"),
        (TWICE_THIRTY_SECONDS, TimeUnit.HOUR, "2"),
        (TWICE_THIRTY_SECONDS, TimeUnit.DAY, "2"),
        # Clipped to the cycle: the 30 seconds on either side are not October's.
        (WHOLE_OCTOBER_AND_MORE, TimeUnit.SECOND, "2678400"),
        (WHOLE_OCTOBER_AND_MORE, TimeUnit.MINUTE, "44640"),
        (WHOLE_OCTOBER_AND_MORE, TimeUnit.HOUR, "744"),
        (WHOLE_OCTOBER_AND_MORE, TimeUnit.DAY, "31"),
    ],
)
def test_units_per_interval(events, unit, units):
    rating = rate(events, prices=[price("p", rate="1", unit=unit)], until=utc(2020, 12, 1))
    [quantity] = rating.quantities
    assert quantity.quantity == D(units)
    assert quantity.unit is unit
    assert quantity.amount == D(units)


def test_interval_crossing_the_cycle_start_bills_its_part_in_the_cycle():
    events = [
        event(CREATED, utc(2020, 9, 30, 23, 59, 30), "4cpu-16gb"),
        event(STOPPED, utc(2020, 10, 1, 0, 0, 30)),
    ]
    rating = rate(events, prices=[price("p", rate="0.10")])
    [quantity] = rating.quantities
    assert quantity.quantity == D(1)
    assert quantity.periods == (Period(start=utc(2020, 10, 1), end=utc(2020, 10, 1, 0, 0, 30)),)


@pytest.mark.parametrize(
    "events",
    [
        [event(CREATED, utc(2020, 9, 1), "4cpu-16gb"), event(DELETED, utc(2020, 10, 1))],
        [event(CREATED, utc(2020, 11, 1), "4cpu-16gb")],
    ],
)
def test_intervals_outside_the_cycle_bill_nothing(events):
    rating = rate(events, prices=[price("p", rate="0.10")], until=utc(2020, 12, 1))
    assert rating.quantities == ()
    assert rating.segments == ()
    assert rating.unpriced == ()


def test_stopped_and_started_sums_and_lists_its_periods():
    rating = rate(TWICE_THIRTY_SECONDS, prices=[price("p", rate="0.10")])
    [quantity] = rating.quantities
    assert quantity.quantity == D(2)
    assert quantity.amount == D("0.20")
    assert quantity.periods == (
        Period(start=utc(2020, 10, 1), end=utc(2020, 10, 1, 0, 0, 30)),
        Period(start=utc(2020, 10, 1, 1), end=utc(2020, 10, 1, 1, 0, 30)),
    )
    assert quantity.covered == Period(start=utc(2020, 10, 1), end=utc(2020, 10, 1, 1, 0, 30))
    assert len(rating.segments) == 2


def test_resize_splits_the_usage_by_variant():
    events = [
        event(CREATED, utc(2020, 10, 10), "4cpu-16gb"),
        event(RESIZED, utc(2020, 10, 10, 0, 0, 30), "8cpu-32gb"),
        event(DELETED, utc(2020, 10, 10, 0, 1, 10)),
    ]
    prices = [price("small", rate="0.10"), price("large", rate="0.20", variant="8cpu-32gb")]
    rating = rate(events, prices=prices)
    assert [(q.variant, q.price_id, q.rate, q.quantity, q.amount) for q in rating.quantities] == [
        ("4cpu-16gb", "small", D("0.10"), D(1), D("0.10")),
        ("8cpu-32gb", "large", D("0.20"), D(1), D("0.20")),
    ]


def test_scheduled_price_change_splits_an_interval_and_ceils_each_side():
    prices = [
        price("old", rate="0.10", valid_to=utc(2020, 10, 16, 12, 0, 30)),
        price("new", rate="0.20", valid_from=utc(2020, 10, 16, 12, 0, 30)),
    ]
    rating = rate([event(CREATED, utc(2020, 9, 1), "4cpu-16gb")], prices=prices)
    # 22,320.5 minutes before the change and 22,319.5 after: one started minute each side.
    assert [(q.price_id, q.quantity, q.amount) for q in rating.quantities] == [
        ("old", D(22321), D("2232.10")),
        ("new", D(22320), D("4464.00")),
    ]
    assert [s.period for s in rating.segments] == [
        Period(start=utc(2020, 10, 1), end=utc(2020, 10, 16, 12, 0, 30)),
        Period(start=utc(2020, 10, 16, 12, 0, 30), end=utc(2020, 11, 1)),
    ]


def test_same_price_over_two_variants_stays_two_quantities():
    events = [
        event(CREATED, utc(2020, 10, 1), "4cpu-16gb"),
        event(RESIZED, utc(2020, 10, 2), "8cpu-32gb"),
        event(RESIZED, utc(2020, 10, 3), "4cpu-16gb"),
        event(STOPPED, utc(2020, 10, 4)),
    ]
    rating = rate(events, prices=[price("any-variant", rate="1", unit=TimeUnit.DAY, variant=None)])
    assert [(q.variant, q.quantity) for q in rating.quantities] == [
        ("4cpu-16gb", D(2)),
        ("8cpu-32gb", D(1)),
    ]


def test_time_without_a_price_is_reported_unpriced():
    rating = rate(
        [event(CREATED, utc(2020, 9, 1), "4cpu-16gb")],
        prices=SEED_PRICES,
        resource=instance(region="venus"),
    )
    # The any-region price still applies in venus; only a venus-only catalog leaves gaps.
    assert [(q.price_id, q.quantity) for q in rating.quantities] == [
        ("instance-any-region", D(44640))
    ]

    late = [price("late", rate="0.10", valid_from=utc(2020, 10, 10))]
    rating = rate([event(CREATED, utc(2020, 9, 1), "4cpu-16gb")], prices=late)
    assert [(q.price_id, q.quantity) for q in rating.quantities] == [("late", D(31680))]
    assert rating.unpriced == (Period(start=utc(2020, 10, 1), end=utc(2020, 10, 10)),)


def test_no_matching_price_leaves_everything_unpriced():
    rating = rate(
        [event(CREATED, utc(2020, 10, 5), "4cpu-16gb")],
        prices=[price("mars", rate="0.10")],
        resource=instance(region="venus"),
    )
    assert rating.quantities == ()
    assert rating.unpriced == (Period(start=utc(2020, 10, 5), end=utc(2020, 11, 1)),)


def test_duration_price_stores_a_time_unit():
    assert price("p", rate="0.1", unit="hour").unit is TimeUnit.HOUR


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": "0.00000000001"}, ERR_RATE_PLACES),
        ({"rate": "-1"}, "must not be negative"),
        ({"rate": "1", "valid_to": EPOCH}, "valid_from must be before valid_to"),
        ({"rate": "1", "unit": "fortnight"}, "fortnight"),
    ],
)
def test_duration_price_validation(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        price("bad", **kwargs)
