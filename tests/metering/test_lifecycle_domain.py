"""The lifecycle timeline, DB-free: which sequences are consistent, and why not."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.periods import ERR_NAIVE
from metering.domain.lifecycle import (
    ERR_AFTER_DELETED,
    ERR_BEFORE_CREATED,
    ERR_CREATED_TWICE,
    ERR_SAME_INSTANT,
    ERR_SAME_INSTANT_VARIANT,
    ERR_STARTED_TWICE,
    ERR_STOPPED_TWICE,
    ERR_UNSORTED,
    ERR_VARIANT_CHANGED,
    LifecycleKind,
    Phase,
    Timeline,
    TimelineEvent,
    TimelineState,
    sort_timeline,
    timeline_state,
    timeline_violation,
)

R = "i-1"
CREATED = LifecycleKind.CREATED
STARTED = LifecycleKind.STARTED
STOPPED = LifecycleKind.STOPPED
RESIZED = LifecycleKind.RESIZED
DELETED = LifecycleKind.DELETED
BASE = datetime(2020, 10, 1, tzinfo=UTC)


def at(hour: int) -> datetime:
    return BASE + timedelta(hours=hour)


def z(hour: int) -> str:
    return at(hour).isoformat().replace("+00:00", "Z")


def ev(kind, hour, variant="4cpu", event_id=""):
    return TimelineEvent(kind=kind, at=at(hour), variant=variant, event_id=event_id)


def seq(*pairs):
    """(kind, hour) or (kind, hour, variant) tuples -> sorted events with distinct ids."""
    events = [ev(p[0], p[1], *(p[2:] or ("4cpu",)), event_id=f"e{n}")
              for n, p in enumerate(pairs)]
    return sort_timeline(events)


CONSISTENT = [
    pytest.param([(CREATED, 0)], id="created"),
    pytest.param([(CREATED, 0), (STOPPED, 1), (STARTED, 2), (DELETED, 3)], id="full-life"),
    pytest.param([(CREATED, 0), (RESIZED, 1, "8cpu"), (STOPPED, 2, "8cpu")], id="resize-running"),
    pytest.param([(CREATED, 0), (STOPPED, 1), (RESIZED, 2, "8cpu"), (STARTED, 3, "8cpu")],
                 id="resize-stopped"),
    pytest.param([(CREATED, 0), (STOPPED, 1), (DELETED, 2)], id="delete-stopped"),
    pytest.param([(CREATED, 0), (DELETED, 0)], id="created-and-deleted-at-once"),
    pytest.param([(CREATED, 0), (STOPPED, 0)], id="created-stopped-at-once"),
    pytest.param([(CREATED, 0), (RESIZED, 0, "4cpu")], id="same-variant-at-once"),
    pytest.param([(CREATED, 0), (STOPPED, 1), (RESIZED, 1, "8cpu"), (STARTED, 2, "8cpu")],
                 id="stop-and-resize-at-once"),
    pytest.param([(CREATED, 0), (STOPPED, 1), (STARTED, 2), (RESIZED, 2, "8cpu")],
                 id="start-and-resize-at-once"),
    # Out-of-order arrival: the first KNOWN event may be any kind.
    pytest.param([(STOPPED, 1)], id="only-stopped"),
    pytest.param([(STARTED, 1)], id="only-started"),
    pytest.param([(RESIZED, 1, "8cpu"), (STOPPED, 2, "8cpu")], id="resized-first"),
    pytest.param([(DELETED, 5)], id="only-deleted"),
    pytest.param([(STARTED, 1), (STOPPED, 2), (STARTED, 3)], id="started-first"),
    pytest.param([(RESIZED, 1, "8cpu"), (STARTED, 2, "8cpu")], id="resized-then-started"),
]


@pytest.mark.parametrize("pairs", CONSISTENT)
def test_consistent_timelines_have_no_violation(pairs):
    assert timeline_violation(R, seq(*pairs)) is None


INCONSISTENT = [
    pytest.param([(CREATED, 0), (STARTED, 1)],
                 ERR_STARTED_TWICE.format(resource=R, at=z(1)), id="started-while-running"),
    pytest.param([(CREATED, 0), (STOPPED, 1), (STOPPED, 2)],
                 ERR_STOPPED_TWICE.format(resource=R, at=z(2)), id="stopped-twice"),
    pytest.param([(STARTED, 1), (STARTED, 2)],
                 ERR_STARTED_TWICE.format(resource=R, at=z(2)), id="started-twice-no-create"),
    pytest.param([(RESIZED, 1, "8cpu"), (STARTED, 2, "8cpu"), (STARTED, 3, "8cpu")],
                 ERR_STARTED_TWICE.format(resource=R, at=z(3)), id="inferred-then-twice"),
    pytest.param([(CREATED, 0), (CREATED, 1)],
                 ERR_CREATED_TWICE.format(resource=R, first=z(0), at=z(1)), id="created-twice"),
    pytest.param([(CREATED, 0), (CREATED, 0)],
                 ERR_CREATED_TWICE.format(resource=R, first=z(0), at=z(0)),
                 id="created-twice-same-instant"),
    pytest.param([(STOPPED, 0), (CREATED, 1)],
                 ERR_BEFORE_CREATED.format(resource=R, created=z(1), kind="stopped", at=z(0)),
                 id="event-before-created"),
    pytest.param([(CREATED, 0), (DELETED, 1), (STARTED, 2)],
                 ERR_AFTER_DELETED.format(resource=R, deleted=z(1), kind="started", at=z(2)),
                 id="event-after-deleted"),
    pytest.param([(CREATED, 0), (DELETED, 1), (DELETED, 2)],
                 ERR_AFTER_DELETED.format(resource=R, deleted=z(1), kind="deleted", at=z(2)),
                 id="deleted-twice"),
    pytest.param([(DELETED, 1), (CREATED, 2)],
                 ERR_AFTER_DELETED.format(resource=R, deleted=z(1), kind="created", at=z(2)),
                 id="created-after-deleted"),
    pytest.param([(CREATED, 0), (STOPPED, 1), (STARTED, 1)],
                 ERR_SAME_INSTANT.format(resource=R, first="started", second="stopped",
                                         at=z(1)),
                 id="started-and-stopped-at-once"),
    pytest.param([(CREATED, 0), (RESIZED, 1, "8cpu"), (RESIZED, 1, "2cpu")],
                 ERR_SAME_INSTANT_VARIANT.format(resource=R, first="8cpu", second="2cpu",
                                                 at=z(1)),
                 id="two-variants-at-once"),
    pytest.param([(CREATED, 0, "4cpu"), (RESIZED, 0, "8cpu")],
                 ERR_SAME_INSTANT_VARIANT.format(resource=R, first="4cpu", second="8cpu",
                                                 at=z(0)),
                 id="created-and-resized-at-once"),
    pytest.param([(CREATED, 0, "4cpu"), (STOPPED, 1, "8cpu")],
                 ERR_VARIANT_CHANGED.format(resource=R, current="4cpu", at=z(1),
                                            variant="8cpu"),
                 id="variant-changed-without-resize"),
    pytest.param([(STOPPED, 1, "4cpu"), (STARTED, 2, "8cpu")],
                 ERR_VARIANT_CHANGED.format(resource=R, current="4cpu", at=z(2),
                                            variant="8cpu"),
                 id="variant-changed-no-create"),
]


@pytest.mark.parametrize(("pairs", "reason"), INCONSISTENT)
def test_inconsistent_timelines_name_the_contradiction(pairs, reason):
    assert timeline_violation(R, seq(*pairs)) == reason


def test_the_reason_reads_as_the_issue_describes():
    events = seq((CREATED, 0), (STARTED, 0 + 1))
    assert timeline_violation(R, events) == (
        "resource i-1 is already running at 2020-10-01T01:00:00Z (started twice)"
    )


def test_ties_sort_created_started_stopped_resized_deleted():
    shuffled = [ev(DELETED, 1, event_id="a"), ev(RESIZED, 1, event_id="b"),
                ev(STOPPED, 1, event_id="c"), ev(CREATED, 1, event_id="d")]
    assert [e.kind for e in sort_timeline(shuffled)] == [CREATED, STOPPED, RESIZED, DELETED]


def test_unsorted_input_is_a_programming_error():
    with pytest.raises(ValueError, match=ERR_UNSORTED):
        timeline_violation(R, [ev(STOPPED, 2), ev(CREATED, 1)])


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match=ERR_NAIVE):
        TimelineEvent(kind=CREATED, at=datetime(2020, 10, 1), variant="4cpu")


def test_instants_are_normalized_to_utc():
    plus_two = timezone(timedelta(hours=2))
    event = TimelineEvent(kind=CREATED, at=datetime(2020, 10, 1, 2, tzinfo=plus_two),
                          variant="4cpu")
    assert event.at == BASE and event.at.tzinfo is UTC


@pytest.mark.parametrize(
    ("pairs", "state"),
    [
        ([], TimelineState(phase=Phase.UNKNOWN, variant=None, complete=False)),
        ([(CREATED, 0)], TimelineState(phase=Phase.RUNNING, variant="4cpu", complete=True)),
        ([(CREATED, 0), (STOPPED, 1)],
         TimelineState(phase=Phase.STOPPED, variant="4cpu", complete=True)),
        ([(CREATED, 0), (RESIZED, 1, "8cpu")],
         TimelineState(phase=Phase.RUNNING, variant="8cpu", complete=True)),
        ([(CREATED, 0), (DELETED, 1)],
         TimelineState(phase=Phase.DELETED, variant="4cpu", complete=True)),
        ([(STOPPED, 1)], TimelineState(phase=Phase.STOPPED, variant="4cpu", complete=False)),
        ([(RESIZED, 1, "8cpu")],
         TimelineState(phase=Phase.UNKNOWN, variant="8cpu", complete=False)),
    ],
)
def test_state_after_the_known_events(pairs, state):
    assert timeline_state(R, seq(*pairs)) == state


def test_state_of_a_contradicting_timeline_is_an_error():
    with pytest.raises(ValueError, match="started twice"):
        timeline_state(R, seq((CREATED, 0), (STARTED, 1)))


# --- Timeline.add: events arriving one by one, in any order ---------------------------------


def test_a_later_event_first_then_the_earlier_one():
    timeline = Timeline(R)
    assert timeline.add(ev(STOPPED, 5, event_id="b")) is None
    assert timeline.state.phase == Phase.STOPPED and not timeline.state.complete
    assert timeline.add(ev(CREATED, 0, event_id="a")) is None
    assert [e.event_id for e in timeline.events] == ["a", "b"]
    assert timeline.state == TimelineState(phase=Phase.STOPPED, variant="4cpu", complete=True)


def test_a_late_event_is_checked_against_both_neighbours():
    timeline = Timeline(R, [ev(CREATED, 0, event_id="a"), ev(STOPPED, 4, event_id="c")])
    # Started at 2 while running since 0: refused, and the timeline is unchanged.
    assert timeline.add(ev(STARTED, 2, event_id="b")) == ERR_STARTED_TWICE.format(
        resource=R, at=z(2)
    )
    assert len(timeline.events) == 2
    # Stopped at 2 then stopped at 4: refused, blaming the later stop it makes repeat.
    assert timeline.add(ev(STOPPED, 2, event_id="b")) == ERR_STOPPED_TWICE.format(
        resource=R, at=z(4)
    )


def test_a_missing_pair_fits_only_together():
    stored = [ev(CREATED, 0, event_id="a"), ev(STOPPED, 4, event_id="d")]
    stop, start = ev(STOPPED, 2, event_id="b"), ev(STARTED, 3, event_id="c")
    # Each alone repeats a neighbour...
    assert Timeline(R, stored).add(start) == ERR_STARTED_TWICE.format(resource=R, at=z(3))
    assert Timeline(R, stored).add(stop) == ERR_STOPPED_TWICE.format(resource=R, at=z(4))
    # ...together they fit, in whichever order they are given.
    timeline = Timeline(R, stored)
    assert timeline.add_all([start, stop]) == [None, None]
    assert [e.event_id for e in timeline.events] == ["a", "b", "c", "d"]


def test_add_all_reports_each_event_in_the_order_given():
    timeline = Timeline(R, [ev(CREATED, 0, event_id="a")])
    late_start = ev(STARTED, 1, event_id="b")
    stop = ev(STOPPED, 2, event_id="c")
    stop_again = ev(STOPPED, 3, event_id="d")
    assert timeline.add_all([stop_again, late_start, stop]) == [
        ERR_STOPPED_TWICE.format(resource=R, at=z(3)),
        ERR_STARTED_TWICE.format(resource=R, at=z(1)),
        None,
    ]
    assert [e.event_id for e in timeline.events] == ["a", "c"]


def test_a_missing_stop_start_pair_can_arrive_in_either_order():
    timeline = Timeline(R, [ev(CREATED, 0, event_id="a"), ev(DELETED, 9, event_id="z")])
    assert timeline.add(ev(STARTED, 5, event_id="c")) == ERR_STARTED_TWICE.format(
        resource=R, at=z(5)
    )
    assert timeline.add(ev(STOPPED, 3, event_id="b")) is None
    assert timeline.add(ev(STARTED, 5, event_id="c")) is None
    assert [e.kind for e in timeline.events] == [CREATED, STOPPED, STARTED, DELETED]


def test_nothing_may_be_inserted_after_deleted_or_before_created():
    timeline = Timeline(R, [ev(CREATED, 2, event_id="a"), ev(DELETED, 4, event_id="b")])
    assert timeline.add(ev(STOPPED, 5)) == ERR_AFTER_DELETED.format(
        resource=R, deleted=z(4), kind="stopped", at=z(5)
    )
    assert timeline.add(ev(STOPPED, 1)) == ERR_BEFORE_CREATED.format(
        resource=R, created=z(2), kind="stopped", at=z(1)
    )
    assert timeline.add(ev(CREATED, 3)) == ERR_CREATED_TWICE.format(
        resource=R, first=z(2), at=z(3)
    )


def test_appending_at_the_same_instant_checks_the_events_already_there():
    timeline = Timeline(R, [ev(CREATED, 0, event_id="a"), ev(STOPPED, 1, event_id="b")])
    # started sorts before stopped at one instant: an insertion, fully re-validated.
    assert timeline.add(ev(STARTED, 1, event_id="c")) == ERR_SAME_INSTANT.format(
        resource=R, first="started", second="stopped", at=z(1)
    )
    timeline = Timeline(R, [ev(CREATED, 0, event_id="a"), ev(RESIZED, 1, "8cpu", "b")])
    # resized after resized at one instant: the fast append path.
    assert timeline.add(ev(RESIZED, 1, "2cpu", "c")) == ERR_SAME_INSTANT_VARIANT.format(
        resource=R, first="8cpu", second="2cpu", at=z(1)
    )


def test_appending_agrees_with_full_validation_on_every_small_sequence():
    """Every sequence of up to four kinds over three instants: adding events one by
    one in time order is accepted exactly when the whole timeline is consistent."""
    import itertools

    kinds = list(LifecycleKind)
    for length in range(1, 5):
        for combo in itertools.product(kinds, repeat=length):
            for hours in itertools.product(range(2), repeat=length):
                events = sort_timeline(
                    ev(kind, hour, event_id=f"e{n}")
                    for n, (kind, hour) in enumerate(zip(combo, hours, strict=True))
                )
                timeline = Timeline(R)
                reasons = [timeline.add(e) for e in events]
                whole = timeline_violation(R, events)
                if whole is None:
                    assert reasons == [None] * len(events), events
                else:
                    assert any(reasons), events


def test_stored_contradictions_refuse_every_insertion_with_the_reason():
    broken = Timeline(R, [ev(CREATED, 0, event_id="a"), ev(STARTED, 1, event_id="b")])
    assert broken.add(ev(STOPPED, 2, event_id="c")) == ERR_STARTED_TWICE.format(
        resource=R, at=z(1)
    )
