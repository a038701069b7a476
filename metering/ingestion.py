"""What lifecycle and usage ingestion share: a batch's limits and outcomes.

Both streams answer item by item (accepted, duplicate, refused with reasons, in input
order), read the same field shapes (ids, names, instants, attributes), report a
repeated id the same way, refuse events the billing calendar cannot take (cycles.guard:
beyond the future horizon, before the billing start, inside a finalized cycle, the
last kept in the late-usage report), and count their outcomes per UTC day and stream
in `IngestionDay`.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection

from core.api_gate import item_refusals, printable
from core.periods import ERR_INSTANT_RANGE, instant_utc
from cycles.guard import CycleFinalized, finalized_boundary
from metering.models import IngestionDay, IngestionOutcome

MAX_BATCH = 5000
ID_MAX = 200
KEY_MAX = 100

# The batch as a whole (a 400 at the API).
ERR_NOT_A_LIST = "events must be a JSON array of event objects"
ERR_TOO_MANY = "at most {max} events per batch, got {count}: split the batch"

# One item's fields.
ERR_NOT_OBJECT = "each event must be a JSON object"
ERR_REQUIRED = "is required"
ERR_TEXT = "must be a non-empty string of at most {max} characters"
ERR_UNKNOWN_PROJECT = "unknown project {name!r}"
ERR_TIMESTAMP = "must be an ISO-8601 timestamp with a UTC offset, e.g. 2020-10-01T00:00:00Z"
ERR_NAIVE = "has no UTC offset (add Z or +hh:mm): a time without one is ambiguous"
ERR_ATTRIBUTES = "must be a JSON object"

# One item against what is stored, or against an earlier item of its batch.
DUPLICATE = "event {event_id!r} was already received"
DUPLICATE_DIFFERENT = (
    "event {event_id!r} was already received with a different body ({differences}): "
    "the event first received is kept"
)
DUPLICATE_IN_BATCH = "event {event_id!r} repeats item {index} of this batch"
DUPLICATE_IN_BATCH_REFUSED = (
    "event {event_id!r} repeats item {index} of this batch, which was refused"
)


@dataclass(frozen=True, slots=True)
class IngestionResult:
    """Per-item outcomes in input order, and their counts.

    Each item: {"index", "event_id", "status": accepted|duplicate|refused,
    "reason" (duplicate and refused), "fields" (refused for bad fields:
    {field: [reasons]})}.
    """

    items: list[dict[str, Any]]
    accepted: int
    duplicate: int
    refused: int


_ACCEPTED = IngestionOutcome.ACCEPTED.value


class Outcomes:
    """One outcome row per item of the batch, filled in as each item is decided."""

    def __init__(self, size: int) -> None:
        self.rows: list[dict[str, Any] | None] = [None] * size

    def set(self, index: int, event_id, status: str, reason: str | None = None,
            fields: dict[str, list[str]] | None = None, error: dict | None = None) -> None:
        row: dict[str, Any] = {"index": index, "event_id": event_id, "status": str(status)}
        if reason is not None:
            row["reason"] = reason
        if fields:
            row["fields"] = fields
        if error:
            # The error envelope's body, as a single write would get it (cycle_finalized).
            row["error"] = error
        self.rows[index] = row

    def accept(self, index: int, event_id: str) -> None:
        """`set(index, event_id, ACCEPTED)`, at the cost of one dict: most items."""
        self.rows[index] = {"index": index, "event_id": event_id, "status": _ACCEPTED}

    def refuse_fields(self, index: int, raw: dict, errors: dict[str, list[str]]) -> None:
        """Refuse an item for its bad fields: every field's reasons, in field order."""
        reason = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
        shown_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
        if shown_id is not None and "event_id" in errors:
            shown_id = printable(shown_id)
        self.set(index, shown_id, IngestionOutcome.REFUSED, reason, errors)


def batch_gate(items: list, outcomes: Outcomes) -> list:
    """The batch with each item the input gate refuses (control characters, impossible
    dates, JSON too deep, numbers no field holds: core/api_gate.py) refused in
    `outcomes` and replaced by None, before anything (a query) reads the items."""
    gated = []
    for index, raw in enumerate(items):
        refusals = item_refusals(raw)
        if refusals:
            outcomes.refuse_fields(index, raw if isinstance(raw, dict) else {}, refusals)
            raw = None
        gated.append(raw)
    return gated


def batch_check(items) -> None:
    """Raise ValidationError if the batch as a whole is refused (not a list, too long)."""
    if not isinstance(items, list):
        raise ValidationError({"events": [ERR_NOT_A_LIST]})
    if len(items) > MAX_BATCH:
        raise ValidationError({"events": [ERR_TOO_MANY.format(max=MAX_BATCH, count=len(items))]})


# --- fields ---------------------------------------------------------------------------------


def strings_named(items: list, name: str) -> set[str]:
    """The distinct string values of field `name` across the batch's objects."""
    return {
        item[name] for item in items
        if isinstance(item, dict) and isinstance(item.get(name), str)
    }


def text_field(raw: dict, name: str, errors: dict, *, required: bool = True,
               max_length: int = KEY_MAX) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            errors[name] = [ERR_REQUIRED]
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        errors[name] = [ERR_TEXT.format(max=max_length)]
        return None
    return value


def timestamp_field(raw: dict, errors: dict) -> datetime | None:
    value = raw.get("occurred_at")
    if value is None:
        errors["occurred_at"] = [ERR_REQUIRED]
        return None
    at = instant_parse(value)
    if isinstance(at, str):
        errors["occurred_at"] = [at]
        return None
    return at


def instant_parse(value) -> datetime | str:
    """`value` as a UTC instant if it is an ISO-8601 timestamp with an offset, else
    the reason it is not one."""
    if not isinstance(value, str):
        return ERR_TIMESTAMP
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return ERR_TIMESTAMP
    if at.tzinfo is None or at.utcoffset() is None:
        return ERR_NAIVE
    try:
        return instant_utc(at)
    except ValueError:
        return ERR_INSTANT_RANGE


def attributes_field(raw: dict, errors: dict):
    """The item's `attributes` ({} when absent); a reason in `errors` if not an object."""
    attributes = raw.get("attributes")
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        errors["attributes"] = [ERR_ATTRIBUTES]
    return attributes


def attributes_json(value) -> str:
    """JSON text of free-form `attributes`, with every Decimal written as the exact
    number it is: the API parses every JSON number as a Decimal, which the json
    module cannot write (a TypeError, a 500, until this), and a float would round."""
    if isinstance(value, Decimal):
        return str(value)  # a finite Decimal's text is a JSON number: 1.5, 1E+1, 0E-10
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{attributes_json(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(attributes_json(v) for v in value) + "]"
    return json.dumps(value)


# --- repeats, duplicates and finalized cycles -----------------------------------------------


def repeats_split(parsed: list) -> tuple[list, list[tuple[Any, Any]]]:
    """First occurrence of each event id, and the later items repeating one
    (as (item, first) pairs). Items need `event_id`."""
    first: dict[str, Any] = {}
    repeats = []
    for item in parsed:
        if item.event_id in first:
            repeats.append((item, first[item.event_id]))
        else:
            first[item.event_id] = item
    return list(first.values()), repeats


def repeats_resolve(repeats: list[tuple[Any, Any]], outcomes: Outcomes,
                    differences: Callable[[Any, Any], str]) -> None:
    """Each repeat is a duplicate of its first item (naming how its body differs,
    `differences(item, first)`), or refused with it if the first was refused."""
    for item, first in repeats:
        if outcomes.rows[first.index]["status"] == IngestionOutcome.REFUSED:
            outcomes.set(item.index, item.event_id, IngestionOutcome.REFUSED,
                         DUPLICATE_IN_BATCH_REFUSED.format(event_id=item.event_id,
                                                           index=first.index))
            continue
        reason = DUPLICATE_IN_BATCH.format(event_id=item.event_id, index=first.index)
        different = differences(item, first)
        if different:
            reason = f"{reason}, with a different body ({different})"
        outcomes.set(item.index, item.event_id, IngestionOutcome.DUPLICATE, reason)


def field_differences(pairs) -> str:
    """'field stored, not sent' for each (field, stored, sent, shown) that differs:
    why a re-sent id with another body is still only a duplicate."""
    return ", ".join(
        f"{name} {shown(stored)}, not {shown(sent)}"
        for name, stored, sent, shown in pairs if stored != sent
    )


def calendar_refuse(parsed: list, outcomes: Outcomes, *, now: datetime
                    ) -> tuple[list, list[tuple[Any, str]]]:
    """Items the billing calendar cannot take get cycles.guard's refusal (one read per
    batch): dated more than the provider's future horizon ahead of `now`, before its
    billing start, or in a finalized cycle. Returns the items kept, and the late ones
    as (item, finalized cycle) pairs for the late-usage report. Items need `index`,
    `event_id` and `at`."""
    if not parsed:
        return parsed, []
    boundary = finalized_boundary(now=now)
    kept, late = [], []
    for item in parsed:
        refused = boundary.refusal(item.at, field="occurred_at")
        if refused is None:
            kept.append(item)
            continue
        outcomes.set(item.index, item.event_id, IngestionOutcome.REFUSED, refused.text,
                     error=refused.body())
        if isinstance(refused, CycleFinalized):
            late.append((item, refused.label))
    return kept, late


def accepted_instants(items: list, outcomes: Outcomes) -> list[datetime]:
    """The instants of the `items` whose outcome is accepted: the months to bill."""
    return [item.at for item in items
            if outcomes.rows[item.index]["status"] == IngestionOutcome.ACCEPTED]


# --- the day's counters ---------------------------------------------------------------------


def outcomes_finish(outcomes: Outcomes, *, now: datetime, stream: str) -> IngestionResult:
    """Count the batch's outcomes into the day's counters of `stream` (unless the batch
    was empty), and the result. Call it last in the batch's transaction."""
    counts = {status: 0 for status in IngestionOutcome.values}
    for row in outcomes.rows:
        counts[row["status"]] += 1
    if outcomes.rows:
        _count_stream_day(now, counts, stream)
    return IngestionResult(
        items=outcomes.rows,
        accepted=counts[IngestionOutcome.ACCEPTED],
        duplicate=counts[IngestionOutcome.DUPLICATE],
        refused=counts[IngestionOutcome.REFUSED],
    )


def _count_stream_day(now: datetime, counts: dict[str, int], stream: str) -> None:
    """Add the batch's outcomes to today's (UTC) counters: one atomic upsert.

    Concurrent batches serialize on this row until they commit, so it is the last
    write of the transaction: the lock is held only for the commit itself."""
    table = IngestionDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (day, stream, accepted, duplicate, refused)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (day, stream) DO UPDATE SET
                accepted = {table}.accepted + EXCLUDED.accepted,
                duplicate = {table}.duplicate + EXCLUDED.duplicate,
                refused = {table}.refused + EXCLUDED.refused
            """,
            [now.astimezone(UTC).date(), stream, counts[IngestionOutcome.ACCEPTED],
             counts[IngestionOutcome.DUPLICATE], counts[IngestionOutcome.REFUSED]],
        )
