"""Notification preferences now live in the notifications app (table kept, see
notifications/0001); budget webhook deliveries were copied into its generic deliveries
(notifications/0002), so their table goes."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("budgets", "0002_billingcycle_moved_to_cycles"),
        ("notifications", "0002_budget_webhook_deliveries"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="NotificationPreference")],
            database_operations=[],
        ),
        migrations.DeleteModel(name="BudgetWebhookDelivery"),
    ]
