"""Reading the audit log in tests: a row's events, oldest first, and who made them."""

from django.db import models

from audit.models import AuditEvent


def events_of(model: type[models.Model], pk) -> list:
    """The audit events of one row of `model`, in the order they were written."""
    return list(model.pgh_event_model.objects.filter(pgh_obj_id=pk)
                .select_related("pgh_context").order_by("pgh_id"))


def context_of(event) -> dict:
    """The context of an event row (its `pghistory.Context`) or of an audit log entry
    (`AuditEvent`, which carries the context's metadata itself)."""
    context = event.pgh_context
    if isinstance(context, dict):
        return context
    return context.metadata if context is not None else {}


def actor_of(event) -> str | None:
    """The username the event's context names."""
    return context_of(event).get("username")


def log_of(obj) -> list:
    """The audit log's entries for one row (`AuditEvent`: data, diff, context), in the
    order they were written."""
    return list(AuditEvent.objects.tracks(obj).order_by("pgh_id"))


def diff_of(entry) -> dict:
    """What an update changed: column -> (before, after)."""
    return {column: tuple(values) for column, values in (entry.pgh_diff or {}).items()}
