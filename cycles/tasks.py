"""Celery tasks of the billing calendar."""

from cycles.clock import clock_now
from cycles.services import cycles_ensure
from tenancy.jobs import provider_task


@provider_task(name="cycles.tasks.cycles_ensure")
def cycles_ensure_task() -> list[str]:
    return [cycle.label for cycle in cycles_ensure(now=clock_now())]
