"""BillingCycle now lives in the cycles app (its table is kept, see cycles/0001)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("invoicing", "0006_delivery_and_payment"),
        ("cycles", "0001_initial"),
        ("budgets", "0002_billingcycle_moved_to_cycles"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="invoice", name="cycle",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                            related_name="invoices", to="cycles.billingcycle"),
                ),
                migrations.AlterField(
                    model_name="ratingrun", name="cycle",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                            related_name="rating_runs",
                                            to="cycles.billingcycle"),
                ),
                migrations.DeleteModel(name="BillingCycle"),
            ],
            database_operations=[],
        ),
    ]
