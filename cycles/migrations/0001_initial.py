"""BillingCycle moves here from invoicing: the model's state is created, its table
(`invoicing_billingcycle`, with its rows) is kept and renamed by 0002."""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("invoicing", "0006_delivery_and_payment"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="BillingCycle",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                                   serialize=False, verbose_name="ID")),
                        ("start", models.DateTimeField(unique=True)),
                        ("end", models.DateTimeField(unique=True)),
                        ("label", models.CharField(help_text="YYYY-MM in the billing zone",
                                                   max_length=7, unique=True)),
                        ("status", models.CharField(
                            choices=[("open", "Open"), ("closing", "Closing"),
                                     ("closed", "Closed")],
                            default="open", max_length=10)),
                        ("closed_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "ordering": ["start"],
                        "db_table": "invoicing_billingcycle",
                        "constraints": [models.CheckConstraint(
                            condition=models.Q(("start__lt", models.F("end"))),
                            name="cycle_start_before_end")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
