"""A resource's lifecycle timeline: is it consistent, and why would a new event break it.

A timeline is a resource's lifecycle events sorted by `timeline_key`: instant,
then a fixed order of kinds for events at the same instant (created, started,
stopped, resized, deleted), then event id. Rating reads events in this same
order (`metering.domain.timeline.running_intervals`), so what is validated here
is exactly what is rated.

The state machine (the kinds mean what rating makes of them):

    created  nothing -> running      (only once, and first)
    started  stopped -> running
    stopped  running -> stopped
    resized  running -> running, stopped -> stopped   (changes the variant)
    deleted  running or stopped -> deleted             (terminal: nothing after it)

Events arrive out of order. The first KNOWN event of a resource may therefore be
any kind: if it is not `created`, the resource was created earlier and its state
just before that event is inferred from the event (a `stopped` means it was
running, a `started` that it was stopped; `resized` and `deleted` leave it open).
The state is carried as the set of phases still possible, narrowed by each event;
the timeline contradicts itself when that set becomes empty. An event arriving
late is accepted only if the whole timeline stays consistent once it is inserted
among its neighbours.

Also refused: an event before `created` or after `deleted`, a second `created`,
`started` and `stopped` at one instant (their order is unknown), two variants at
one instant, and a started/stopped/deleted event naming another variant than the
one in force (only `resized` changes it).

Pure: no ORM, no clock. Messages are module constants, formatted with the
resource id and ISO-8601 UTC instants.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from core.periods import require_aware
from metering.domain.timeline import LifecycleKind

ERR_STARTED_TWICE = "resource {resource} is already running at {at} (started twice)"
ERR_STOPPED_TWICE = "resource {resource} is already stopped at {at} (stopped twice)"
ERR_CREATED_TWICE = (
    "resource {resource} was already created at {first} (created twice, again at {at})"
)
ERR_BEFORE_CREATED = (
    "resource {resource} is created at {created}: its {kind} event at {at} "
    "cannot come before its creation"
)
ERR_AFTER_DELETED = (
    "resource {resource} is deleted at {deleted}: its {kind} event at {at} "
    "cannot follow its deletion"
)
ERR_VARIANT_CHANGED = (
    "resource {resource} runs as {current} at {at}, not {variant}: "
    "only a resized event changes its variant"
)
ERR_SAME_INSTANT = (
    "resource {resource} is both {first} and {second} at {at}: "
    "events at one instant must not contradict each other"
)
ERR_SAME_INSTANT_VARIANT = (
    "resource {resource} is given two variants at {at} ({first} and {second}): "
    "events at one instant must not contradict each other"
)
ERR_UNSORTED = "timeline events must be sorted by timeline_key"

# Ties at one instant: creation first, deletion last; started/stopped (which name
# the variant in force) before resized (which changes it).
KIND_ORDER: dict[LifecycleKind, int] = {
    LifecycleKind.CREATED: 0,
    LifecycleKind.STARTED: 1,
    LifecycleKind.STOPPED: 2,
    LifecycleKind.RESIZED: 3,
    LifecycleKind.DELETED: 4,
}
_VARIANT_SETTERS = frozenset({LifecycleKind.CREATED, LifecycleKind.RESIZED})


class Phase(StrEnum):
    """Where a resource stands. UNKNOWN: running or stopped, the events do not say."""

    ABSENT = "absent"  # before its `created` event
    RUNNING = "running"
    STOPPED = "stopped"
    DELETED = "deleted"
    UNKNOWN = "unknown"


_TRANSITIONS: dict[tuple[Phase, LifecycleKind], Phase] = {
    (Phase.ABSENT, LifecycleKind.CREATED): Phase.RUNNING,
    (Phase.STOPPED, LifecycleKind.STARTED): Phase.RUNNING,
    (Phase.RUNNING, LifecycleKind.STOPPED): Phase.STOPPED,
    (Phase.RUNNING, LifecycleKind.RESIZED): Phase.RUNNING,
    (Phase.STOPPED, LifecycleKind.RESIZED): Phase.STOPPED,
    (Phase.RUNNING, LifecycleKind.DELETED): Phase.DELETED,
    (Phase.STOPPED, LifecycleKind.DELETED): Phase.DELETED,
}
# Before its first known event, a resource whose `created` has not arrived is alive.
_ALIVE = frozenset({Phase.RUNNING, Phase.STOPPED})


def iso(t: datetime) -> str:
    """An instant as ISO-8601 UTC with a `Z`, as reasons and the API print it."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEvent:
    """One lifecycle event of one resource. `variant` may be None only for
    started/stopped/deleted (then it is not checked against the one in force)."""

    kind: LifecycleKind
    at: datetime
    variant: str | None = None
    event_id: str = ""

    def __post_init__(self) -> None:
        require_aware(self.at)
        object.__setattr__(self, "kind", LifecycleKind(self.kind))
        object.__setattr__(self, "at", self.at.astimezone(UTC))


def timeline_key(event) -> tuple[datetime, int, str]:
    """Sort key of a timeline; works on anything with kind, at (and event_id)."""
    return (event.at, KIND_ORDER[LifecycleKind(event.kind)], getattr(event, "event_id", ""))


def sort_timeline(events: Iterable[TimelineEvent]) -> list[TimelineEvent]:
    return sorted(events, key=timeline_key)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineState:
    """Where a resource stands after its known events.

    `phase` is UNKNOWN when the events leave running or stopped open (e.g. only a
    `resized` is known); `variant` is None when no known event names one.
    `complete` is True when its `created` event is known: only then can rating
    derive its running intervals.
    """

    phase: Phase
    variant: str | None
    complete: bool


@dataclass(frozen=True, slots=True)
class _Fold:
    phases: frozenset[Phase] | None  # None: no event known yet
    variant: str | None
    first: TimelineEvent | None
    created: TimelineEvent | None
    deleted: TimelineEvent | None
    last: TimelineEvent | None


_EMPTY = _Fold(phases=None, variant=None, first=None, created=None, deleted=None, last=None)


def _same_instant(resource_id: str, a: TimelineEvent, b: TimelineEvent) -> str | None:
    """Why two events at one instant contradict each other, if they do."""
    kinds = {a.kind, b.kind}
    if kinds == {LifecycleKind.STARTED, LifecycleKind.STOPPED}:
        return ERR_SAME_INSTANT.format(
            resource=resource_id, first=a.kind, second=b.kind, at=iso(a.at)
        )
    if a.kind in _VARIANT_SETTERS and b.kind in _VARIANT_SETTERS and a.variant != b.variant:
        return ERR_SAME_INSTANT_VARIANT.format(
            resource=resource_id, first=a.variant, second=b.variant, at=iso(a.at)
        )
    return None


def _step(resource_id: str, state: _Fold, event: TimelineEvent) -> tuple[_Fold, str | None]:
    """Apply one event (later in timeline order than all before it) to the fold."""
    if state.deleted is not None:
        return state, ERR_AFTER_DELETED.format(
            resource=resource_id, deleted=iso(state.deleted.at), kind=event.kind,
            at=iso(event.at),
        )
    if event.kind == LifecycleKind.CREATED and state.first is not None:
        if state.created is not None:
            return state, ERR_CREATED_TWICE.format(
                resource=resource_id, first=iso(state.created.at), at=iso(event.at)
            )
        return state, ERR_BEFORE_CREATED.format(
            resource=resource_id, created=iso(event.at), kind=state.first.kind,
            at=iso(state.first.at),
        )
    if (
        event.kind not in _VARIANT_SETTERS
        and event.variant is not None
        and state.variant is not None
        and event.variant != state.variant
    ):
        return state, ERR_VARIANT_CHANGED.format(
            resource=resource_id, current=state.variant, at=iso(event.at), variant=event.variant
        )
    if state.phases is None:
        phases = frozenset({Phase.ABSENT}) if event.kind == LifecycleKind.CREATED else _ALIVE
    else:
        phases = state.phases
    following = frozenset(
        _TRANSITIONS[(phase, event.kind)] for phase in phases
        if (phase, event.kind) in _TRANSITIONS
    )
    if not following:
        # Structural checks above leave only these two ways to run out of phases.
        template = ERR_STARTED_TWICE if event.kind == LifecycleKind.STARTED else ERR_STOPPED_TWICE
        return state, template.format(resource=resource_id, at=iso(event.at))
    return (
        _Fold(
            phases=following,
            variant=event.variant if event.variant is not None else state.variant,
            first=state.first or event,
            created=event if event.kind == LifecycleKind.CREATED else state.created,
            deleted=event if event.kind == LifecycleKind.DELETED else None,
            last=event,
        ),
        None,
    )


def _fold(resource_id: str, events: Sequence[TimelineEvent]) -> tuple[_Fold, str | None]:
    """Fold a sorted timeline; the first contradiction found, if any."""
    previous = None
    for event in events:
        key = timeline_key(event)
        if previous is not None and key < previous:
            raise ValueError(ERR_UNSORTED)
        previous = key
    # Same-instant conflicts first: their order is unknown, so reporting them as a
    # sequence error ("started twice") would blame the wrong thing.
    group: list[TimelineEvent] = []
    for event in events:
        if group and group[0].at != event.at:
            group = []
        for other in group:
            reason = _same_instant(resource_id, other, event)
            if reason:
                return _EMPTY, reason
        group.append(event)
    state = _EMPTY
    for event in events:
        state, reason = _step(resource_id, state, event)
        if reason:
            return state, reason
    return state, None


def timeline_violation(resource_id: str, events: Sequence[TimelineEvent]) -> str | None:
    """Why the sorted `events` of one resource contradict each other, or None."""
    return _fold(resource_id, events)[1]


def _state_of(fold: _Fold) -> TimelineState:
    if fold.phases is None:
        phase = Phase.UNKNOWN
    elif len(fold.phases) == 1:
        (phase,) = fold.phases
    else:
        phase = Phase.UNKNOWN
    return TimelineState(phase=phase, variant=fold.variant, complete=fold.created is not None)


def timeline_state(resource_id: str, events: Sequence[TimelineEvent]) -> TimelineState:
    """Where the resource stands after its sorted `events` (ValueError if inconsistent)."""
    fold, reason = _fold(resource_id, events)
    if reason:
        raise ValueError(reason)
    return _state_of(fold)


class Timeline:
    """A resource's known events, kept sorted and consistent while events are added.

    `add` inserts an event if the timeline stays consistent and returns None, or
    leaves it unchanged and returns the reason; `add_all` does so for several.
    Appending after the last event (the usual case) costs O(1); an event that
    arrives late re-validates the whole timeline.
    """

    __slots__ = ("resource_id", "_events", "_fold", "_broken")

    def __init__(self, resource_id: str, events: Iterable[TimelineEvent] = ()) -> None:
        self.resource_id = resource_id
        self._events = sort_timeline(events)
        self._fold, reason = _fold(resource_id, self._events)
        # Stored events that contradict each other (data from before these rules):
        # every insertion re-validates, and is refused with the reason found.
        self._broken = reason is not None

    @property
    def events(self) -> tuple[TimelineEvent, ...]:
        return tuple(self._events)

    @property
    def state(self) -> TimelineState:
        return _state_of(self._fold)

    def check(self, event: TimelineEvent) -> str | None:
        """Why inserting `event` would contradict the timeline, or None."""
        return self._try(event)[1]

    def add(self, event: TimelineEvent) -> str | None:
        """Insert `event` if the timeline stays consistent; else the reason."""
        (fold, events), reason = self._try(event)
        if reason is None:
            self._fold, self._events, self._broken = fold, events, False
        return reason

    def add_all(self, events: Iterable[TimelineEvent]) -> list[str | None]:
        """Add several events (one resource's share of a batch); a reason or None
        for each, in the order given.

        They are added one by one in timeline order. If that refuses any, the set
        is also tried as a whole: a missing stop/start pair inside a stored
        timeline fits only together (each alone would repeat a neighbour), and
        is then accepted together.
        """
        events = list(events)
        saved = (self._events, self._fold, self._broken)
        reasons = {id(e): self.add(e) for e in sort_timeline(events)}
        if len(events) > 1 and any(reasons.values()):
            candidate = sort_timeline([*saved[0], *events])
            fold, reason = _fold(self.resource_id, candidate)
            if reason is None:
                self._events, self._fold, self._broken = candidate, fold, False
                return [None] * len(events)
        return [reasons[id(e)] for e in events]

    def _try(self, event: TimelineEvent):
        events = self._events
        key = timeline_key(event)
        if not self._broken and (not events or key > timeline_key(events[-1])):
            for other in reversed(events):
                if other.at != event.at:
                    break
                reason = _same_instant(self.resource_id, other, event)
                if reason:
                    return (None, None), reason
            fold, reason = _step(self.resource_id, self._fold, event)
            if reason:
                return (None, None), reason
            return (fold, [*events, event]), None
        candidate = sort_timeline([*events, event])
        fold, reason = _fold(self.resource_id, candidate)
        if reason:
            return (None, None), reason
        return (fold, candidate), None


__all__ = [
    "ERR_AFTER_DELETED",
    "ERR_BEFORE_CREATED",
    "ERR_CREATED_TWICE",
    "ERR_SAME_INSTANT",
    "ERR_SAME_INSTANT_VARIANT",
    "ERR_STARTED_TWICE",
    "ERR_STOPPED_TWICE",
    "ERR_UNSORTED",
    "ERR_VARIANT_CHANGED",
    "KIND_ORDER",
    "LifecycleKind",
    "Phase",
    "Timeline",
    "TimelineEvent",
    "TimelineState",
    "iso",
    "sort_timeline",
    "timeline_key",
    "timeline_state",
    "timeline_violation",
]
