"""The moved tables take this app's name, and the outbox index a name of its own."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0002_budget_webhook_deliveries"),
        ("invoicing", "0008_outbox_moved_to_notifications"),
        ("budgets", "0003_notifications_moved_out"),
    ]

    operations = [
        migrations.AlterModelTable(name="outboxmessage", table=None),
        migrations.AlterModelTable(name="notificationpreference", table=None),
        migrations.RenameIndex(model_name="outboxmessage", new_name="outbox_due_idx",
                               old_name="invoicing_o_status_13f60a_idx"),
    ]
