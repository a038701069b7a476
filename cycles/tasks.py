"""Celery tasks of the billing calendar."""

from cycles.clock import clock_now, provider_is_sandbox
from cycles.clock_run import sandbox_clock_run
from cycles.services import cycles_ensure
from tenancy.jobs import provider_task


@provider_task(name="cycles.tasks.cycles_ensure")
def cycles_ensure_task() -> list[str]:
    """The current month's cycle (from the billing start on): what beat keeps made."""
    cycle = cycles_ensure(now=clock_now())
    return [cycle.label] if cycle is not None else []


@provider_task(name="cycles.tasks.sandbox_clock_run")
def sandbox_clock_run_task() -> dict:
    """Walk a sandbox's clock to the instant it was asked to advance to (queued by
    `sandbox_clock_advance`, and by beat for a run that was lost), running the work due
    on the way."""
    if not provider_is_sandbox():
        return {"status": "live"}  # real time: nothing to walk
    clock = sandbox_clock_run()
    if clock is None:
        return {"status": "busy"}  # another run holds the clock and will finish it
    return {"status": clock.status, "frozen_time": clock.frozen_time.isoformat()}
