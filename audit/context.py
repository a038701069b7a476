"""Who made a write: the context that the audit triggers attach to every event.

pghistory keeps one context per request, command or task: a UUID and a JSON object
that every write statement carries (`set_config(..., true)`, local to its transaction)
and that the triggers store once per schema, as a row of `pghistory_context` linked
from each event. Its keys:

- `user`, `username`: who acted (the signed-in user, an API key's user, or the actor a
  service was given);
- `api_key`: the public prefix of the API key the request authenticated with;
- `url`, `method`: the request;
- `command`: the management command; `task`: the Celery task;
- `note`: why, where a service says it (an entitlement ended by a plan change).

A context is one row: a key added later (the API key's user, known only once DRF has
authenticated, after the middleware) holds for every event of the request. Writes made
outside any context (a Django shell, psql) are still recorded, with no context.
"""

import contextlib
import functools
import threading

import pghistory
from django.core.management.base import BaseCommand
from django.db import connection

_opened = threading.local()
# The statements that can fire an audit trigger.
_WRITES = ("insert", "update", "delete", "with", "merge")
_FORGET = ("SELECT set_config('pghistory.context_id', '', true), "
           "set_config('pghistory.context_metadata', '', true); ")


def user_metadata(user) -> dict:
    """How the audit log names a user (nothing for anonymous or no user)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    return {"user": user.pk, "username": user.get_username()}


def _depth() -> int:
    return getattr(_opened, "depth", 0)


@contextlib.contextmanager
def audit_context(**metadata):
    """Open a context (or add to the one open in this thread)."""
    depth = _depth()
    _opened.depth = depth + 1
    try:
        with pghistory.context(**metadata):
            yield
    finally:
        _opened.depth = depth
        if depth == 0 and connection.in_atomic_block:
            _ForgetClosedContext.install()


class _ForgetClosedContext:
    """pghistory's variables last until the transaction ends: a write later in the same
    transaction, outside any context, would be attributed to the context just closed.
    This prefixes the next such write with a reset of the variables (no extra round
    trip), then removes itself; a new context sets its own instead."""

    def __call__(self, execute, sql, params, many, context):
        if _depth() == 0 and not many and isinstance(sql, str) \
                and sql.lstrip()[:6].lower().startswith(_WRITES):
            self.remove()
            result = execute(_FORGET + sql, params, many, context)
            # Two statements, two results: Django reads the write's (RETURNING, rowcount).
            while result is not None and result.nextset():
                pass
            return result
        if _depth() > 0:
            self.remove()
        return execute(sql, params, many, context)

    @classmethod
    def install(cls) -> None:
        if not any(isinstance(w, cls) for w in connection.execute_wrappers):
            connection.execute_wrappers.insert(0, cls())

    def remove(self) -> None:
        if self in connection.execute_wrappers:
            connection.execute_wrappers.remove(self)


class AuditContextMiddleware:
    """Open the request's audit context, naming its signed-in user (sessions: the admin,
    the pages, the browsable API). Runs after Django's authentication middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        metadata = {"url": request.path, "method": request.method,
                    **user_metadata(getattr(request, "user", None))}
        with audit_context(**metadata):
            return self.get_response(request)


def api_key_used(*, user, prefix: str) -> None:
    """Name an API key and its user in the request's context. DRF authenticates inside
    the view, after the middleware opened the context: this adds to it (and does
    nothing outside a context)."""
    pghistory.context(**user_metadata(user), api_key=prefix)


def audit_note(text: str) -> None:
    """Say why, in the current context (`note`): e.g. the entitlement a plan change
    ended. Outside a context it is dropped, like any context added to none."""
    pghistory.context(note=text)


def task_context(name: str):
    """The context of one Celery task run (tenancy.jobs.ProviderTask opens it)."""
    return audit_context(task=name)


class AuditedCommand(BaseCommand):
    """A management command whose writes name it in the audit log."""

    def execute(self, *args, **options):
        with audit_context(command=self.__module__.rsplit(".", 1)[-1]):
            return super().execute(*args, **options)


def records_actor(param: str = "actor"):
    """Decorate a service so that its keyword argument `param` (the acting user) is named
    in the audit context. In a request it is the request's user again; a command, a task
    or a test calling the service directly gets who acted from here."""
    def decorate(service):
        @functools.wraps(service)
        def with_actor(*args, **kwargs):
            metadata = user_metadata(kwargs.get(param))
            context = audit_context(**metadata) if metadata else contextlib.nullcontext()
            with context:
                return service(*args, **kwargs)
        return with_actor
    return decorate
