"""Celery tasks of the billing calendar."""

from cycles.clock import clock_now
from cycles.services import cycles_ensure
from tenancy.jobs import provider_task


@provider_task(name="cycles.tasks.cycles_ensure")
def cycles_ensure_task() -> list[str]:
    """The current month's cycle (from the billing start on): what beat keeps made."""
    cycle = cycles_ensure(now=clock_now())
    return [cycle.label] if cycle is not None else []
