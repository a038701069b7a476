"""The outbox now lives in the notifications app (its table is kept, see notifications/0001)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("invoicing", "0007_billingcycle_moved_to_cycles"),
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboxMessage")],
            database_operations=[],
        ),
    ]
