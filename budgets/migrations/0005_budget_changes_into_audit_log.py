"""The hand-written audit trail of budgets (BudgetChange) moves into the audit log: each
row becomes an event of the budget (created: `insert`, updated: `update`, deleted:
`delete`) holding the budget's fields from the row's snapshot; the context names the
actor and keeps the whole snapshot (recipients included) and the row it came from.
Then the table goes."""

from django.conf import settings
from django.db import migrations

LEGACY = "budgets.BudgetChange"


def _tables(apps) -> dict[str, str]:
    names = {"change": ("budgets", "BudgetChange"), "event": ("budgets", "BudgetEvent"),
             "budget": ("budgets", "Budget"), "organization": ("accounts", "Organization"),
             "project": ("accounts", "Project"), "context": ("pghistory", "Context"),
             "user": tuple(settings.AUTH_USER_MODEL.split("."))}
    return {key: apps.get_model(*label)._meta.db_table for key, label in names.items()}


def changes_into_events(apps, schema_editor):
    t = _tables(apps)
    # One context per legacy row, its id derived from the row: the two inserts agree.
    context_id = f"md5('{LEGACY}:' || c.id)::uuid"
    schema_editor.execute(f"""
        INSERT INTO {t["context"]} (id, created_at, updated_at, metadata)
        SELECT {context_id}, c.at, c.at, jsonb_strip_nulls(jsonb_build_object(
                   'user', c.actor_id, 'username', u.username, 'snapshot', c.snapshot,
                   'legacy', '{LEGACY}', 'legacy_id', c.id))
        FROM {t["change"]} c LEFT JOIN {t["user"]} u ON u.id = c.actor_id
    """)
    # The snapshot names the organization or project; a deleted budget's creation is
    # read from its own "created" row. In time order, so each event's predecessor (by
    # pgh_id) is the one before it.
    schema_editor.execute(f"""
        INSERT INTO {t["event"]} (pgh_created_at, pgh_label, pgh_obj_id, pgh_context_id, id,
                                 name, scope, organization_id, project_id, amount, thresholds,
                                 webhook_url, created_by_id, created_at, updated_at)
        SELECT c.at,
               CASE c.kind WHEN 'created' THEN 'insert' WHEN 'updated' THEN 'update'
                           ELSE 'delete' END,
               c.budget_ref, {context_id}, c.budget_ref,
               c.snapshot->>'name', c.snapshot->>'scope',
               (SELECT o.id FROM {t["organization"]} o
                WHERE o.name = c.snapshot->>'organization'),
               (SELECT p.id FROM {t["project"]} p WHERE p.name = c.snapshot->>'project'),
               (c.snapshot->>'amount')::numeric,
               ARRAY(SELECT jsonb_array_elements_text(c.snapshot->'thresholds')::smallint),
               COALESCE(c.snapshot->>'webhook_url', ''),
               COALESCE(b.created_by_id, created.actor_id),
               COALESCE(b.created_at, created.at, c.at),
               c.at
        FROM {t["change"]} c
        LEFT JOIN {t["budget"]} b ON b.id = c.budget_ref
        LEFT JOIN {t["change"]} created ON created.budget_ref = c.budget_ref
                                       AND created.kind = 'created'
        ORDER BY c.at, c.id
    """)


class Migration(migrations.Migration):
    dependencies = [
        ("budgets", "0004_audit_events"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [
        migrations.RunPython(changes_into_events, migrations.RunPython.noop),
        migrations.DeleteModel(name="BudgetChange"),
    ]
