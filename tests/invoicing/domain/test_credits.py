import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.domain.matching import DurationPrice
from catalog.domain.time_units import TimeUnit
from core.money import round_money
from core.periods import Period, month_period
from invoicing.domain.credits import (
    ERR_DUPLICATE_CREDIT,
    CreditWindow,
    compute_credits,
    dependency_closure,
)
from invoicing.domain.rating import RatedResource, RatedSegment, rate_resource
from metering.domain.timeline import LifecycleEvent, LifecycleKind, running_intervals

D = Decimal
OCTOBER = month_period(2020, 10, "UTC")
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def window(start, end):
    return Period(start=start, end=end)


SEED_WINDOW = window(utc(2020, 10, 15, 23), utc(2020, 10, 16, 4, 30))


def price(
    price_id, *, rate, metric="instance", variant="4cpu-16gb", valid_from=EPOCH, valid_to=None
):
    return DurationPrice(
        price_id=price_id,
        metric=metric,
        variant=variant,
        region="mars",
        service_class=None,
        valid_from=valid_from,
        valid_to=valid_to,
        rate=D(rate),
        unit=TimeUnit.MINUTE,
    )


PRICES = [
    price("instance-mars", rate="0.10"),
    price("disk-mars", rate="0.05", metric="disk", variant="500gb"),
]


def rated(resource_id, *, metric="instance", variant="4cpu-16gb", events=None, prices=PRICES):
    """The October segments of a resource; by default it runs the whole month."""
    events = events or [
        LifecycleEvent(kind=LifecycleKind.CREATED, at=utc(2020, 9, 1), variant=variant)
    ]
    resource = RatedResource(
        resource_id=resource_id, metric=metric, region="mars", service_class=None
    )
    intervals = running_intervals(events, until=OCTOBER.end)
    return list(
        rate_resource(resource=resource, intervals=intervals, cycle=OCTOBER, prices=prices).segments
    )


def charged(segments):
    return sum((s.amount for s in segments), D(0))


def credit(credit_id, period, resource_ids):
    return CreditWindow(credit_id=credit_id, window=period, resource_ids=frozenset(resource_ids))


def summary(results):
    return [(r.credit_id, r.resource_id, r.price_id, r.quantity, r.amount) for r in results]


# Dependencies


PARENT_OF = {
    "i-1": None,
    "d-1": "i-1",
    "nic-1": "i-1",
    "snap-1": "d-1",  # depends on the disk, so transitively on the instance
    "i-2": None,
    "d-2": "i-2",
}


@pytest.mark.parametrize(
    ("roots", "expected"),
    [
        (set(), set()),
        ({"i-1"}, {"i-1", "d-1", "nic-1", "snap-1"}),
        ({"d-1"}, {"d-1", "snap-1"}),
        ({"snap-1"}, {"snap-1"}),
        ({"i-1", "i-2"}, {"i-1", "d-1", "nic-1", "snap-1", "i-2", "d-2"}),
        ({"unknown"}, {"unknown"}),
    ],
)
def test_dependency_closure(roots, expected):
    assert dependency_closure(roots=roots, parent_of=PARENT_OF) == expected


def test_dependency_closure_survives_a_cycle():
    assert dependency_closure(roots={"a"}, parent_of={"a": "b", "b": "a"}) == {"a", "b"}


# The chargeback seed's credit


def test_seed_credit_covers_instances_and_their_disks():
    parent_of = {}
    segments = []
    for number in range(1, 16):
        segments += rated(f"i-{number}")
        segments += rated(f"d-{number}", metric="disk", variant="500gb")
        parent_of[f"i-{number}"] = None
        parent_of[f"d-{number}"] = f"i-{number}"
    # Not in scope: another project's instance and disk.
    segments += rated("i-other") + rated("d-other", metric="disk", variant="500gb")
    parent_of.update({"i-other": None, "d-other": "i-other"})

    covered = dependency_closure(roots={f"i-{n}" for n in range(1, 16)}, parent_of=parent_of)
    results = compute_credits(
        credits=[credit("downgraded-mars", SEED_WINDOW, covered)], segments=segments
    )

    instances = [r for r in results if r.resource_id.startswith("i-")]
    disks = [r for r in results if r.resource_id.startswith("d-")]
    assert len(instances) == len(disks) == 15
    assert {(r.quantity, r.rate, r.amount) for r in instances} == {(D(330), D("0.10"), D("-33.00"))}
    assert {(r.quantity, r.rate, r.amount) for r in disks} == {(D(330), D("0.05"), D("-16.50"))}
    assert round_money(sum((r.amount for r in instances), D(0)), "USD") == D("-495.00")
    assert round_money(sum((r.amount for r in disks), D(0)), "USD") == D("-247.50")
    assert all(r.periods == (SEED_WINDOW,) for r in results)
    assert "i-other" not in {r.resource_id for r in results}


# Windows and running time


@pytest.mark.parametrize(
    ("events", "quantity", "amount"),
    [
        (  # created an hour into the window: 270 of its 330 minutes ran
            [LifecycleEvent(kind=LifecycleKind.CREATED, at=utc(2020, 10, 16), variant="4cpu-16gb")],
            "270",
            "-27.00",
        ),
        (  # deleted inside the window
            [
                LifecycleEvent(
                    kind=LifecycleKind.CREATED, at=utc(2020, 10, 1), variant="4cpu-16gb"
                ),
                LifecycleEvent(kind=LifecycleKind.DELETED, at=utc(2020, 10, 16, 1)),
            ],
            "120",
            "-12.00",
        ),
        (  # stopped for an hour inside the window
            [
                LifecycleEvent(
                    kind=LifecycleKind.CREATED, at=utc(2020, 10, 1), variant="4cpu-16gb"
                ),
                LifecycleEvent(kind=LifecycleKind.STOPPED, at=utc(2020, 10, 16, 1)),
                LifecycleEvent(kind=LifecycleKind.STARTED, at=utc(2020, 10, 16, 2)),
            ],
            "270",
            "-27.00",
        ),
        (  # 30 seconds inside the window: exact fractional units, not a whole minute
            [
                LifecycleEvent(
                    kind=LifecycleKind.CREATED, at=utc(2020, 10, 16, 4, 29, 30), variant="4cpu-16gb"
                )
            ],
            "0.5",
            "-0.050",
        ),
    ],
)
def test_only_running_time_inside_the_window_is_credited(events, quantity, amount):
    [result] = compute_credits(
        credits=[credit("c", SEED_WINDOW, {"i-1"})], segments=rated("i-1", events=events)
    )
    assert result.quantity == D(quantity)
    assert result.amount == D(amount)


def test_resource_not_running_in_the_window_gets_no_credit():
    events = [LifecycleEvent(kind=LifecycleKind.CREATED, at=utc(2020, 10, 20), variant="4cpu-16gb")]
    assert (
        compute_credits(
            credits=[credit("c", SEED_WINDOW, {"i-1"})], segments=rated("i-1", events=events)
        )
        == []
    )


def test_window_beyond_the_cycle_credits_only_the_rated_time():
    wide = window(utc(2020, 10, 31, 23), utc(2020, 11, 2))
    [result] = compute_credits(credits=[credit("c", wide, {"i-1"})], segments=rated("i-1"))
    assert result.quantity == D(60)
    assert result.periods == (window(utc(2020, 10, 31, 23), utc(2020, 11, 1)),)


def test_window_across_a_price_change_credits_each_side_at_its_rate():
    prices = [
        price("old", rate="0.10", valid_to=utc(2020, 10, 16, 2)),
        price("new", rate="0.20", valid_from=utc(2020, 10, 16, 2)),
    ]
    results = compute_credits(
        credits=[credit("c", SEED_WINDOW, {"i-1"})], segments=rated("i-1", prices=prices)
    )
    assert summary(results) == [
        ("c", "i-1", "old", D(180), D("-18.00")),
        ("c", "i-1", "new", D(150), D("-30.00")),
    ]


# Overlapping credits


@pytest.mark.parametrize("reverse", [False, True])
def test_overlapping_credits_never_credit_a_second_twice(reverse):
    first = credit("a-outage", SEED_WINDOW, {"i-1"})
    second = credit("b-slow", window(utc(2020, 10, 16, 2), utc(2020, 10, 16, 6)), {"i-1"})
    credits = [second, first] if reverse else [first, second]
    results = compute_credits(credits=credits, segments=rated("i-1"))
    # The earlier window takes 330 minutes; the later only gets 04:30-06:00.
    assert summary(results) == [
        ("a-outage", "i-1", "instance-mars", D(330), D("-33.00")),
        ("b-slow", "i-1", "instance-mars", D(90), D("-9.00")),
    ]
    assert results[1].periods == (window(utc(2020, 10, 16, 4, 30), utc(2020, 10, 16, 6)),)


def test_credits_with_the_same_start_are_ordered_by_id():
    hour = window(utc(2020, 10, 16), utc(2020, 10, 16, 1))
    results = compute_credits(
        credits=[credit("b", hour, {"i-1"}), credit("a", hour, {"i-1"})], segments=rated("i-1")
    )
    assert summary(results) == [("a", "i-1", "instance-mars", D(60), D("-6.00"))]


def test_later_credit_inside_an_earlier_one_fills_only_the_gaps():
    outer = credit("outer", window(utc(2020, 10, 16), utc(2020, 10, 16, 2)), {"i-1"})
    inner = credit("inner", window(utc(2020, 10, 16, 1), utc(2020, 10, 16, 3)), {"i-1", "i-2"})
    segments = rated("i-1") + rated("i-2")
    assert summary(compute_credits(credits=[inner, outer], segments=segments)) == [
        ("outer", "i-1", "instance-mars", D(120), D("-12.00")),
        ("inner", "i-1", "instance-mars", D(60), D("-6.00")),
        ("inner", "i-2", "instance-mars", D(120), D("-12.00")),
    ]


# Never more than the charge


@pytest.mark.parametrize(
    "events",
    [
        None,  # the whole month
        [
            LifecycleEvent(
                kind=LifecycleKind.CREATED, at=utc(2020, 10, 16, 4, 29, 30), variant="4cpu-16gb"
            ),
            LifecycleEvent(kind=LifecycleKind.DELETED, at=utc(2020, 10, 16, 4, 30)),
        ],
        [
            LifecycleEvent(kind=LifecycleKind.CREATED, at=utc(2020, 10, 1), variant="4cpu-16gb"),
            LifecycleEvent(kind=LifecycleKind.STOPPED, at=utc(2020, 10, 1, 0, 0, 1)),
            LifecycleEvent(kind=LifecycleKind.STARTED, at=utc(2020, 10, 2)),
            LifecycleEvent(kind=LifecycleKind.STOPPED, at=utc(2020, 10, 2, 0, 0, 1)),
        ],
    ],
)
def test_credits_covering_everything_never_exceed_the_charge(events):
    segments = rated("i-1", events=events)
    credits = [
        credit("all", OCTOBER, {"i-1"}),
        credit("again", window(utc(2020, 9, 1), utc(2020, 12, 1)), {"i-1"}),
    ]
    total = -sum((r.amount for r in compute_credits(credits=credits, segments=segments)), D(0))
    assert D(0) < total <= charged(segments)


def test_whole_month_credit_equals_the_whole_month_charge():
    segments = rated("i-1")
    [result] = compute_credits(credits=[credit("all", OCTOBER, {"i-1"})], segments=segments)
    assert result.quantity == D(44640)
    assert -result.amount == charged(segments) == D("4464.00")


def test_short_run_is_credited_its_exact_time_below_its_ceiled_charge():
    events = [
        LifecycleEvent(kind=LifecycleKind.CREATED, at=utc(2020, 10, 5), variant="4cpu-16gb"),
        LifecycleEvent(kind=LifecycleKind.STOPPED, at=utc(2020, 10, 5, 0, 0, 30)),
    ]
    segments = rated("i-1", events=events)
    [result] = compute_credits(credits=[credit("all", OCTOBER, {"i-1"})], segments=segments)
    assert charged(segments) == D("0.10")
    assert result.amount == D("-0.050")


def test_credit_is_capped_at_the_units_a_segment_was_charged():
    # A segment charged fewer units than its time (inconsistent input) still caps the credit.
    segment = RatedSegment(
        resource_id="i-1",
        variant="4cpu-16gb",
        price_id="p",
        rate=D("0.10"),
        unit=TimeUnit.MINUTE,
        period=window(utc(2020, 10, 5), utc(2020, 10, 5, 0, 1, 30)),
        quantity=D(1),
    )
    [result] = compute_credits(credits=[credit("c", OCTOBER, {"i-1"})], segments=[segment])
    assert result.quantity == D(1)
    assert result.amount == D("-0.10")


def test_credit_ids_must_be_unique():
    with pytest.raises(ValueError, match=re.escape(ERR_DUPLICATE_CREDIT)):
        compute_credits(
            credits=[credit("c", SEED_WINDOW, {"i-1"}), credit("c", OCTOBER, {"i-1"})],
            segments=[],
        )
