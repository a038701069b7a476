"""Celery tasks of invoicing: load ids, call a service, nothing else."""

from django.utils import timezone

from billing.jobs import provider_task
from invoicing.jobs import close_due_cycles, rate_open_cycles
from invoicing.services import cycles_ensure


@provider_task(name="invoicing.tasks.cycles_ensure")
def cycles_ensure_task() -> list[str]:
    cycles = cycles_ensure(now=timezone.now())
    return [cycle.label for cycle in cycles]


@provider_task(name="invoicing.tasks.rate_open_cycles")
def rate_open_cycles_task() -> list[dict]:
    return [
        {"cycle": r.cycle, "lines": r.lines, "invoices": r.invoices, "unbilled": r.unbilled}
        for r in rate_open_cycles(now=timezone.now())
    ]


@provider_task(name="invoicing.tasks.close_due_cycles")
def close_due_cycles_task() -> list[dict]:
    return [
        {"cycle": r.cycle, "finalized": r.finalized, "closed": r.closed}
        for r in close_due_cycles(now=timezone.now())
    ]
