"""Writes of a sandbox's clock: start it frozen, and ask it to move forward.

Moving is two parts, as with Stripe's test clocks: `sandbox_clock_advance` records the
target and marks the clock `advancing` in one short transaction, then queues the run
(`cycles.clock_run`) that walks the clock there step by step, running the work due on
the way, and marks it `ready`. Callers poll the status.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from core.timefmt import iso_instant
from cycles.clock import sandbox_clock_get
from cycles.models import ClockAdvance, ClockStatus, SandboxClock
from tenancy.jobs import queue_after_commit

RUN_TASK = "cycles.tasks.sandbox_clock_run"
# A step is a day: a year of them is a few minutes of work for a small sandbox. Further
# than this, advance in several moves (Stripe bounds its test clocks' moves too).
ADVANCE_MAX = timedelta(days=366)

NOT_A_SANDBOX = ("This provider runs on real time: only a sandbox provider has a test "
                 "clock (create one with `manage.py create_provider --sandbox`).")
ADVANCE_BACKWARDS = ("a test clock only moves forward: give an instant after its current "
                     "time, {now}")
ADVANCE_TOO_FAR = ("a test clock moves at most {days} days at a time: advance to {limit} "
                   "or earlier, then again")
ADVANCE_NAIVE = "give the instant with its UTC offset, e.g. 2026-04-02T00:00:00Z"
STILL_ADVANCING = ("the test clock is still advancing to {to}: wait until its status is "
                   "ready (GET /api/v1/test-clock), then advance again")


class NotASandbox(Exception):
    """The provider is live: it has no test clock (HTTP 404)."""


class ClockAdvancing(Conflict):
    """An advance asked while the previous one still runs (HTTP 409)."""

    api_code = "test_clock_advancing"


@dataclass(frozen=True)
class AdvanceRequested:
    clock: SandboxClock
    advance: ClockAdvance


def sandbox_clock_start(*, frozen_time: datetime) -> SandboxClock:
    """Give a new sandbox its clock, frozen at `frozen_time` (its creation, usually).
    Safe to repeat: a clock already there is left as it is."""
    if frozen_time.tzinfo is None:
        raise ValidationError({"frozen_time": [ADVANCE_NAIVE]})
    clock, _ = SandboxClock.objects.get_or_create(pk=1, defaults={"frozen_time": frozen_time})
    return clock


def _advance_errors(clock: SandboxClock, to: datetime) -> dict[str, list[str]]:
    if to.tzinfo is None or to.utcoffset() is None:
        return {"to": [ADVANCE_NAIVE]}
    if to <= clock.frozen_time:
        return {"to": [ADVANCE_BACKWARDS.format(now=iso_instant(clock.frozen_time))]}
    if to - clock.frozen_time > ADVANCE_MAX:
        limit = iso_instant(clock.frozen_time + ADVANCE_MAX)
        return {"to": [ADVANCE_TOO_FAR.format(days=ADVANCE_MAX.days, limit=limit)]}
    return {}


def sandbox_clock_advance(*, to: datetime, actor=None, actor_name: str = "",
                          queue: bool = True) -> AdvanceRequested:
    """Ask the sandbox's clock to move forward to `to`.

    Refused: on a live provider (NotASandbox), while a previous advance runs
    (ClockAdvancing), backwards or too far (ValidationError on `to`). A clock that
    failed on the way may be advanced again: the run resumes from where it stopped.
    With `queue=False` the caller runs `sandbox_clock_run` itself (the command does).
    `actor_name` names a mover that is not a user (a command) in the audit trail.
    """
    if sandbox_clock_get() is None:
        raise NotASandbox(NOT_A_SANDBOX)
    with transaction.atomic():
        current = sandbox_clock_get()  # the creation instant when no row was written yet
        SandboxClock.objects.get_or_create(pk=1, defaults={"frozen_time": current.frozen_time})
        clock = SandboxClock.objects.select_for_update().get(pk=1)
        if clock.status == ClockStatus.ADVANCING:
            raise ClockAdvancing({"to": [STILL_ADVANCING.format(
                to=iso_instant(clock.advancing_to))]})
        if errors := _advance_errors(clock, to):
            raise ValidationError(errors)
        clock.status = ClockStatus.ADVANCING
        clock.advancing_to = to
        clock.error = ""
        clock.save(update_fields=["status", "advancing_to", "error"])
        # Real time: when the request was made on Earth, not in the sandbox.
        advance = ClockAdvance.objects.create(
            from_time=clock.frozen_time, to_time=to, requested_at=timezone.now(),
            requested_by=actor if getattr(actor, "pk", None) else None,
            requested_by_name=getattr(actor, "username", "") or actor_name,
        )
        if queue:
            queue_after_commit(RUN_TASK)
    return AdvanceRequested(clock=clock, advance=advance)
