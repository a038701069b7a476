"""A resource's timeline: its lifecycle events, and the intervals it ran in.

Pure: no ORM, no clock. Metering stores lifecycle events; these functions say what
they mean (when the resource ran, and as which variant), for rating and credits.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.periods import Period, require_aware

ERR_VARIANT_REQUIRED = "created and resized events must carry the variant"
ERR_ORDER = "lifecycle events must be ordered by time"
ERR_NOT_CREATED = "the first lifecycle event of a resource must be 'created'"
ERR_CREATED_TWICE = "a resource is created only once"
ERR_AFTER_DELETE = "no lifecycle event may follow 'deleted'"


class LifecycleKind(StrEnum):
    CREATED = "created"
    STARTED = "started"
    STOPPED = "stopped"
    RESIZED = "resized"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class LifecycleEvent:
    """A change in a resource's life at instant `at`; `variant` for created/resized."""

    kind: LifecycleKind
    at: datetime
    variant: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.at)
        needs_variant = self.kind in (LifecycleKind.CREATED, LifecycleKind.RESIZED)
        if needs_variant and not self.variant:
            raise ValueError(f"{ERR_VARIANT_REQUIRED}: {self.kind} at {self.at.isoformat()}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningInterval:
    """The resource ran as `variant` throughout `period`."""

    period: Period
    variant: str


def running_intervals(
    events: Sequence[LifecycleEvent], *, until: datetime
) -> list[RunningInterval]:
    """Running intervals of one resource from its events, up to (not including) `until`.

    Rules, applied in list order (events at the same instant keep their order):
    - `created` must come first; the resource runs from it, as its variant.
    - `stopped` ends the running interval; `started` begins a new one. A
      `started` while running or a `stopped` while stopped changes nothing
      (telemetry repeats itself).
    - `resized` while running ends the interval and starts another with the
      new variant at the same instant; while stopped it only changes the
      variant the next `started` runs as.
    - `deleted` ends any running interval; no event may follow it.
    - Events at or after `until` are ignored; an interval still running at
      `until` ends there (pass the cycle end, or "now" for a draft).
    Zero-length intervals (stopped at the instant it started) are dropped.
    """
    require_aware(until)
    intervals: list[RunningInterval] = []
    variant: str | None = None
    running_since: datetime | None = None
    created = deleted = False
    previous_at: datetime | None = None

    def close(at: datetime) -> None:
        if running_since is not None and running_since < at:
            intervals.append(
                RunningInterval(period=Period(start=running_since, end=at), variant=variant)
            )

    for event in events:
        _require_may_follow(event, previous_at=previous_at, created=created, deleted=deleted)
        previous_at = event.at
        if event.at >= until:
            break
        match event.kind:
            case LifecycleKind.CREATED:
                created, variant, running_since = True, event.variant, event.at
            case LifecycleKind.STARTED:
                if running_since is None:
                    running_since = event.at
            case LifecycleKind.STOPPED:
                close(event.at)
                running_since = None
            case LifecycleKind.RESIZED:
                if running_since is not None:
                    close(event.at)
                    running_since = event.at
                variant = event.variant
            case LifecycleKind.DELETED:
                close(event.at)
                running_since, deleted = None, True
    close(until)
    return intervals


def _require_may_follow(event: LifecycleEvent, *, previous_at: datetime | None, created: bool,
                        deleted: bool) -> None:
    """Raise ValueError unless `event` may follow the resource's earlier events: in time
    order, after `created`, never a second `created`, nothing after `deleted`."""
    if previous_at is not None and event.at < previous_at:
        raise ValueError(f"{ERR_ORDER}: {event.at.isoformat()} after {previous_at.isoformat()}")
    if deleted:
        raise ValueError(f"{ERR_AFTER_DELETE}: {event.kind} at {event.at.isoformat()}")
    if not created and event.kind != LifecycleKind.CREATED:
        raise ValueError(f"{ERR_NOT_CREATED}, got {event.kind}")
    if created and event.kind == LifecycleKind.CREATED:
        raise ValueError(ERR_CREATED_TWICE)
