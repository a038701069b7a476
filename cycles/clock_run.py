"""Walking a sandbox's clock to its target, running the work due on the way.

Beat runs a provider's periodic work every few minutes of real time (billing/settings/
celery.py); a sandbox's clock can jump a month in one request. So the run moves the
clock in steps (every local midnight, every cycle's end plus grace, and the target
itself) and at each step runs the very tasks beat fans out, in beat's order (cycles,
rating, closing, PDFs, emails, payments): each reads `clock_now()`, which is the step.
The budget check each rating queues runs within the step too (`tasks_inline`), so it
reads the spend as of the step. A month end is therefore closed at its end plus grace,
a threshold alerts at the first step past it, a payment retried a day later is retried
a day later, and each invoice's PDF, email and payment happen before the clock reports
`ready`. Emails and webhooks leave through their outbox on real time.

The run is resumable and safe to start twice: it holds the provider's clock lock (a
second run finds it taken and returns), and a run killed on the way leaves the clock at
its last step, `advancing`, for the queued task's retry (or the next advance) to go on.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from celery import current_app
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from core.locks import session_lock_release, session_lock_try
from cycles.clock import sandbox_clock_get
from cycles.models import ClockAdvance, ClockStatus, SandboxClock
from tenancy.jobs import tasks_inline
from tenancy.selectors import provider_current

logger = logging.getLogger(__name__)

LOCK = "sandbox-clock"
STEP_FAILED = "the work due at {step} failed: {error}. Fix the cause, then advance again."

StepCallback = Callable[[datetime, int, int], None]


def _local_midnight(day, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def clock_steps(*, start: datetime, target: datetime, zone: str,
                grace: timedelta) -> list[datetime]:
    """The instants in `(start, target]` at which the work due is run, in order: every
    local midnight in `zone`, every billing month's end plus `grace`, and `target`."""
    tz = ZoneInfo(zone)
    steps = {target.astimezone(UTC)}
    day = (start - grace).astimezone(tz).date()
    last = target.astimezone(tz).date()
    while day <= last:
        midnight = _local_midnight(day, tz)
        candidates = [midnight]
        if day.day == 1:
            candidates.append(midnight + grace)  # a cycle ended here: due to close
        steps.update(t for t in candidates if start < t <= target)
        day += timedelta(days=1)
    return sorted(steps)


def step_tasks() -> list:
    """The periodic tasks beat fans out to every provider, in beat's order."""
    # A web or command process has not imported every app's tasks module (a worker
    # has): import them so the names resolve.
    current_app.loader.import_default_modules()
    return [current_app.tasks[name] for name in settings.TALLY_CLOCK_STEP_TASKS]


def sandbox_clock_run(*, on_step: StepCallback | None = None) -> SandboxClock | None:
    """Move an advancing clock to its target, step by step. Returns the clock (None if
    another run holds it). Runs outside transactions: PDFs render on the way."""
    if not session_lock_try(LOCK):
        return None
    try:
        return _run(on_step)
    finally:
        session_lock_release(LOCK)


def _run(on_step: StepCallback | None) -> SandboxClock | None:
    clock = SandboxClock.objects.filter(pk=1).first()
    if clock is None or clock.status != ClockStatus.ADVANCING:
        return clock or sandbox_clock_get()  # nothing asked (or a live provider: None)
    provider = provider_current()
    advance = ClockAdvance.objects.filter(status=ClockStatus.ADVANCING).order_by("-id").first()
    audit = ClockAdvance.objects.filter(pk=advance.pk if advance else None)
    steps = clock_steps(start=clock.frozen_time, target=clock.advancing_to,
                        zone=provider.billing_timezone, grace=provider.grace_period)
    tasks = step_tasks()
    for number, step in enumerate(steps, start=1):
        SandboxClock.objects.filter(pk=1).update(frozen_time=step)
        try:
            with tasks_inline(settings.TALLY_CLOCK_INLINE_TASKS):
                for task in tasks:
                    task()  # in this process, in this schema; it reads clock_now(): `step`
        except Exception as error:  # noqa: BLE001 - recorded on the clock for its user
            logger.exception("sandbox clock of %s stopped at %s", provider.slug, step)
            text = STEP_FAILED.format(step=step.isoformat(), error=f"{type(error).__name__}: "
                                      f"{error}")[:2000]
            SandboxClock.objects.filter(pk=1).update(status=ClockStatus.FAILED, error=text)
            audit.update(status=ClockStatus.FAILED, error=text, finished_at=timezone.now())
            return SandboxClock.objects.get(pk=1)
        audit.update(steps=F("steps") + 1)
        if on_step is not None:
            on_step(step, number, len(steps))
    SandboxClock.objects.filter(pk=1).update(status=ClockStatus.READY, advancing_to=None)
    # Real time: when the run ended on Earth.
    audit.update(status=ClockStatus.READY, finished_at=timezone.now())
    return SandboxClock.objects.get(pk=1)
