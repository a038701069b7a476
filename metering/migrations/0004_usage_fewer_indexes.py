"""Drop the single-column metric_id and project_id indexes of the usage store.

Every ingested usage event paid seven index insertions; these two served no query:
project lookups (the unentitled-usage report narrowed to projects, the foreign key's
checks when a project is deleted) use the (project_id, metric_id, occurred_at) index,
whose first column is project_id; nothing reads usage by metric alone (rating, reports
and exports select by occurred_at; metrics are never deleted: the catalog admin forbids
it, and the foreign key stays). The usage admin's metric filter reads the occurred_at
index instead. Measured: 1.3-2.5 ms off the 11-13 ms insert of a 1,000-event batch.

Dropping an index of the partitioned table drops it from every month partition. The
model says db_index=False on both foreign keys; the state changes with it.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = {
    "metering_usageevent_metric_id_ea9803d2": "metric_id",
    "metering_usageevent_project_id_d5ea30fb": "project_id",
}


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_consumer_accounts"),
        ("catalog", "0003_consumer_catalog"),
        ("metering", "0003_usage_partitions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {name}",
                    reverse_sql=f"CREATE INDEX IF NOT EXISTS {name} "
                                f"ON metering_usageevent ({column})",
                )
                for name, column in INDEXES.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="usageevent",
                    name="metric",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.PROTECT,
                        related_name="usage_events", to="catalog.metric"),
                ),
                migrations.AlterField(
                    model_name="usageevent",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.PROTECT,
                        related_name="usage_events", to="accounts.project"),
                ),
            ],
        ),
    ]
