"""Celery tasks of invoicing: load ids, call a service, nothing else."""

from django.utils import timezone

from billing.jobs import provider_task
from invoicing.services import cycles_ensure


@provider_task(name="invoicing.tasks.cycles_ensure")
def cycles_ensure_task() -> list[str]:
    cycles = cycles_ensure(now=timezone.now())
    return [cycle.label for cycle in cycles]
