"""Alerts and webhook deliveries point at cycles.BillingCycle (same table, moved app)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("budgets", "0001_initial"),
        ("cycles", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="budgetalert", name="cycle",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                            related_name="+", to="cycles.billingcycle"),
                ),
                migrations.AlterField(
                    model_name="budgetwebhookdelivery", name="cycle",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                            related_name="+", to="cycles.billingcycle"),
                ),
            ],
            database_operations=[],
        ),
    ]
