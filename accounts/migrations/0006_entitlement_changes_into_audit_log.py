"""The hand-written audit trail of entitlements (EntitlementChange) moves into the audit
log: each row becomes an event of the entitlement (accepted: `insert`, ended: `update`,
with the row as it was then) whose context names the actor, the note and the row it
came from. Then the table goes."""

from django.conf import settings
from django.db import migrations

LEGACY = "accounts.EntitlementChange"


def _tables(apps) -> dict[str, str]:
    names = {"change": ("accounts", "EntitlementChange"), "event": ("accounts", "EntitlementEvent"),
             "entitlement": ("accounts", "Entitlement"), "context": ("pghistory", "Context"),
             "user": tuple(settings.AUTH_USER_MODEL.split("."))}
    return {key: apps.get_model(*label)._meta.db_table for key, label in names.items()}


def changes_into_events(apps, schema_editor):
    t = _tables(apps)
    # One context per legacy row, its id derived from the row: the two inserts agree.
    context_id = f"md5('{LEGACY}:' || c.id)::uuid"
    schema_editor.execute(f"""
        INSERT INTO {t["context"]} (id, created_at, updated_at, metadata)
        SELECT {context_id}, c.at, c.at, jsonb_strip_nulls(jsonb_build_object(
                   'user', c.actor_id, 'username', u.username, 'note', NULLIF(c.note, ''),
                   'legacy', '{LEGACY}', 'legacy_id', c.id))
        FROM {t["change"]} c LEFT JOIN {t["user"]} u ON u.id = c.actor_id
    """)
    # In time order, so each event's predecessor (by pgh_id) is the one before it.
    schema_editor.execute(f"""
        INSERT INTO {t["event"]} (pgh_created_at, pgh_label, pgh_obj_id, pgh_context_id, id,
                                 billing_account_id, offer_version_id, start, "end",
                                 created_by_id, created_at)
        SELECT c.at, CASE c.action WHEN 'accepted' THEN 'insert' ELSE 'update' END, e.id,
               {context_id}, e.id, e.billing_account_id, e.offer_version_id, e.start,
               CASE c.action WHEN 'accepted' THEN NULL ELSE c.at END, e.created_by_id,
               e.created_at
        FROM {t["change"]} c JOIN {t["entitlement"]} e ON e.id = c.entitlement_id
        ORDER BY c.at, c.id
    """)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_audit_events"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [
        migrations.RunPython(changes_into_events, migrations.RunPython.noop),
        migrations.DeleteModel(name="EntitlementChange"),
    ]
