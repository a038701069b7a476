"""Which writes the audit log records: row snapshots taken by PostgreSQL triggers.

`@audited()` on a model gives it an event model `<Model>Event` in its own app (table
`<app>_<model>event`, in each provider's schema) and the triggers that fill it, installed
by that app's migrations (django-pghistory on django-pgtrigger). A trigger sees every
write, so set-based `QuerySet.update()` and `.delete()`, `bulk_create` and raw SQL are
recorded as surely as `save()`. Each event keeps the row as it is after an insert or an
update, and as it was before a delete; what changed is the difference between an event
and the one before it for the same row (`audit/changes.py`). Who made the write is the
context of the request, command or task it ran in (`audit/context.py`).

Event tables are append-only: a trigger refuses to update or delete their rows.
"""

from collections.abc import Sequence

import pghistory

INSERT, UPDATE, DELETE = "insert", "update", "delete"
EVERY_EVENT = (INSERT, UPDATE, DELETE)


def _trackers(events: Sequence[str], changes: Sequence[str] | None) -> list:
    trackers = []
    if INSERT in events:
        trackers.append(pghistory.InsertEvent(INSERT, trigger_name=f"audit_{INSERT}"))
    if UPDATE in events:
        # Without `changes`: an update of any snapshotted field, not counting `auto_now`
        # stamps (a save that changes nothing else is not an event).
        condition = (pghistory.AnyChange(*changes) if changes
                     else pghistory.AnyChange(exclude_auto=True))
        trackers.append(pghistory.UpdateEvent(UPDATE, condition=condition,
                                              trigger_name=f"audit_{UPDATE}"))
    if DELETE in events:
        trackers.append(pghistory.DeleteEvent(DELETE, trigger_name=f"audit_{DELETE}"))
    return trackers


def audited(*, events: Sequence[str] = EVERY_EVENT, fields: Sequence[str] | None = None,
            exclude: Sequence[str] = (), changes: Sequence[str] | None = None):
    """Record `events` of the decorated model in the audit log.

    `fields` (default: every field but `exclude`) are snapshotted; keep secrets out with
    `exclude`. `changes` narrows which updates are recorded (default: a change of any
    snapshotted field), for tables that other writes rewrite often.
    """
    def decorate(model):
        return pghistory.track(
            *_trackers(events, changes), fields=list(fields) if fields else None,
            exclude=list(exclude), model_name=f"{model.__name__}Event", append_only=True,
        )(model)
    return decorate

