"""What an audit event says, for people: who acted, through what, and what changed.

An event of `pghistory.models.Events` (audit/models.py) carries the row as the trigger
saw it (`pgh_data`), its difference from the previous event of the same row
(`pgh_diff`: column -> [before, after]) and its context (`pgh_context`, keys in
audit/context.py). Inserts show the new row, deletes the row as it was, updates the
columns that changed, before and after. An update with no earlier event (a row older
than the audit log) shows the row after the change only.
"""

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from pghistory.core import event_models

from audit.tracking import DELETE, INSERT, UPDATE

EVENT_WORDS = {INSERT: "created", UPDATE: "changed", DELETE: "deleted"}
NOBODY = "nobody recorded"
NO_CONTEXT = "no context (a shell, SQL, or a migration)"
EARLIER_UNKNOWN = "(not recorded)"
# Shown as the object itself, not as one of its fields.
_HIDDEN = {"id"}


def with_exact_values(events: QuerySet) -> QuerySet:
    """Annotate each event's data and diff as JSON text (`data_text`, `diff_text`): the
    JSON fields decode numbers as floats, and a rate has more digits than a float."""
    return events.annotate(data_text=Cast("pgh_data", output_field=TextField()),
                           diff_text=Cast("pgh_diff", output_field=TextField()))


def exact(text: str | None) -> dict | None:
    """JSON text decoded with its numbers as Decimals."""
    return json.loads(text, parse_float=Decimal) if text else None


@dataclass(frozen=True)
class FieldChange:
    """One field of an event: `before` is None for an insert, `after` for a delete."""

    field: str
    before: str | None
    after: str | None


@cache
def audited_models() -> tuple[type[models.Model], ...]:
    """Every model whose writes the audit log records, by verbose name (the set is fixed
    once the apps are loaded)."""
    tracked = {event_model.pgh_tracked_model for event_model in event_models()}
    return tuple(sorted(tracked, key=lambda model: str(model._meta.verbose_name)))


def object_key(obj: models.Model) -> str:
    """How the audit log's object filter names a row: `catalog.price:12`."""
    return f"{obj._meta.label_lower}:{obj.pk}"


def object_from_key(key: str | None) -> models.Model | None:
    """An unsaved instance standing for the row `key` names (the row may be deleted);
    None when `key` names no audited model or no valid primary key."""
    label, _, pk = (key or "").partition(":")
    model = model_from_label(label)
    if model is None:
        return None
    try:
        return model(pk=model._meta.pk.to_python(pk))
    except ValidationError:
        return None


def model_from_label(label: str | None) -> type[models.Model] | None:
    """The audited model `catalog.price` names, or None."""
    try:
        model = apps.get_model(label or "")
    except (LookupError, ValueError):
        return None
    return model if model in audited_models() else None


def who(context: dict | None) -> str:
    """The person an event's context names."""
    context = context or {}
    if context.get("username"):
        return f"{context['username']} (#{context.get('user')})"
    if context.get("user"):
        return f"user #{context['user']}"
    return NOBODY


def through(context: dict | None) -> str:
    """What the write ran in: an API key, a request, a command, a task."""
    if not context:
        return NO_CONTEXT
    parts = []
    if context.get("api_key"):
        parts.append(f"API key {context['api_key']}…")
    if context.get("url"):
        parts.append(f"{context.get('method', '')} {context['url']}".strip())
    if context.get("command"):
        parts.append(f"command {context['command']}")
    if context.get("task"):
        parts.append(f"task {context['task']}")
    if context.get("legacy"):
        parts.append(f"{context['legacy']} #{context.get('legacy_id')}, before the audit log")
    if context.get("note"):
        parts.append(context["note"])
    return " · ".join(parts) or NO_CONTEXT


def event_word(label: str) -> str:
    return EVENT_WORDS.get(label, label)


def field_changes(*, model_label: str, label: str, data: dict | None,
                  diff: dict | None) -> list[FieldChange]:
    """The fields an event shows, in the tracked model's field order."""
    names = _field_names(model_label)
    order = {column: index for index, column in enumerate(names)}
    if label == UPDATE and diff:
        items = [(column, _text(values[0]), _text(values[1])) for column, values in diff.items()]
    elif label == DELETE:
        items = [(column, _text(value), None) for column, value in (data or {}).items()]
    elif label == UPDATE:
        items = [(column, EARLIER_UNKNOWN, _text(value)) for column, value in
                 (data or {}).items()]
    else:
        items = [(column, None, _text(value)) for column, value in (data or {}).items()]
    items.sort(key=lambda item: order.get(item[0], len(order)))
    return [FieldChange(names.get(column, column), before, after)
            for column, before, after in items if column not in _HIDDEN]


def _field_names(model_label: str) -> dict[str, str]:
    """Column -> field name of a tracked model (`billing_account_id` -> billing account)."""
    try:
        model = apps.get_model(model_label)
    except (LookupError, ValueError):
        return {}
    return {field.column: str(field.verbose_name) for field in model._meta.concrete_fields}


def _text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
