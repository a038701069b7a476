"""Writes of the late-usage report: events refused because their cycle was finalized.

Ingestion refuses such an event item by item (cycles.guard's 409 `cycle_finalized`)
and records it here in the same transaction, so the operator sees what arrived too
late for its invoice and can issue a credit note. Recording is idempotent by stream
and event id: sending the same late event again raises its count, nothing else.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from metering.ingestion import attributes_json
from metering.models import LateEvent


@dataclass(frozen=True, slots=True)
class LateItem:
    event_id: str
    occurred_at: datetime
    cycle: str
    project: str
    subject: str
    summary: str
    details: dict


def late_events_record(*, stream: str, items: list[LateItem], now: datetime) -> int:
    """Add `items` to the report (one statement); returns how many rows it touched."""
    if not items:
        return 0
    table = LateEvent._meta.db_table
    values = []
    params: list = []
    for item in items:
        values.append("(%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, 1)")
        params += [stream, item.event_id, item.occurred_at, item.cycle, item.project[:100],
                   item.subject[:200], item.summary[:300], attributes_json(item.details),
                   now, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (stream, event_id, occurred_at, cycle, project, subject,
                                 summary, details, first_received_at, last_received_at,
                                 received_count)
            VALUES {", ".join(values)}
            ON CONFLICT (stream, event_id) DO UPDATE SET
                received_count = {table}.received_count + 1,
                last_received_at = EXCLUDED.last_received_at
            """,
            params,
        )
        return cursor.rowcount
