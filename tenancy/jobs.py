"""Background job primitives: provider-scoped tasks and the beat fan-out.

A provider task runs in the schema of the provider that queued it. One queued
from the public schema (no provider) fails closed instead of touching data that
belongs to nobody, or worse, to whichever schema the worker last used.
"""

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from celery import current_app, shared_task
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, tenant_context
from tenant_schemas_celery.task import TenantTask

from audit.context import task_context
from tenancy.selectors import provider_list_active

logger = logging.getLogger(__name__)

TASK_WITHOUT_PROVIDER = (
    "task {name} was queued without a provider: queue it inside the provider's schema "
    "(tenant_context / schema_context), never from the public schema"
)


class MissingProviderError(RuntimeError):
    """A provider-scoped task ran in the public schema."""


class ProviderTask(TenantTask):
    abstract = True

    def __call__(self, *args, **kwargs):
        # tenant-schemas-celery has already switched the connection (task_prerun);
        # public here means the task was queued with no provider.
        if connection.schema_name == get_public_schema_name():
            raise MissingProviderError(TASK_WITHOUT_PROVIDER.format(name=self.name))
        # An archived provider is read-only: work queued before it was archived is dropped.
        if getattr(getattr(connection, "tenant", None), "archived_at", None) is not None:
            logger.info("task %s skipped: provider %s is archived", self.name,
                        connection.schema_name)
            return None
        # Every write the task makes names it in the audit log.
        with task_context(self.name):
            return super().__call__(*args, **kwargs)


def provider_task(*args, **options):
    """Declare a task that always runs inside one provider's schema."""
    options.setdefault("base", ProviderTask)
    return shared_task(*args, **options)


def queue_in_schema(task_name: str, *args, schema_name: str,
                    countdown: float | None = None) -> None:
    """Queue a provider task to run in `schema_name`. The schema travels in the
    headers explicitly: an on_commit callback may run after the caller switched schemas
    (and `_schema_name=` as an option would silently run it in public)."""
    current_app.send_task(task_name, args=args, headers={"_schema_name": schema_name},
                          countdown=countdown)


# Tasks run in place of being queued, while a sandbox's clock steps (cycles/clock_run.py):
# their work belongs to the step, done before the clock moves on.
_inline_tasks: ContextVar[frozenset[str]] = ContextVar("tally_inline_tasks",
                                                       default=frozenset())


@contextmanager
def tasks_inline(names: Iterable[str]) -> Iterator[None]:
    """Within the block, `queue_after_commit` of these tasks runs them here and now, in
    the caller's schema and transaction, instead of queueing them for a worker."""
    token = _inline_tasks.set(frozenset(names))
    try:
        yield
    finally:
        _inline_tasks.reset(token)


def queue_after_commit(task_name: str, *args, countdown: float | None = None) -> None:
    """Queue a provider task in the current provider's schema once the surrounding
    transaction commits (right away outside one); a rolled-back write queues nothing.
    Inside `tasks_inline` naming it, the task runs at once instead."""
    if task_name in _inline_tasks.get():
        current_app.tasks[task_name](*args)
        return
    schema_name = connection.schema_name
    transaction.on_commit(lambda: queue_in_schema(task_name, *args, schema_name=schema_name,
                                                  countdown=countdown))


@shared_task(name="tenancy.jobs.fan_out")
def fan_out(task_name: str, *args) -> int:
    """Queue `task_name` once in every provider's schema (beat's periodic work)."""
    queued = 0
    for provider in provider_list_active():
        with tenant_context(provider):
            current_app.send_task(task_name, args=args)
        queued += 1
    logger.info("fan_out %s to %d providers", task_name, queued)
    return queued


@provider_task(name="tenancy.jobs.provider_ping")
def provider_ping() -> dict:
    """Answer from inside the provider's schema: proves a worker serves this provider.

    `manage.py worker_ping --provider <slug>` queues it and prints the answer.
    """
    tenant = connection.tenant
    return {"schema": connection.schema_name, "provider": tenant.slug}
