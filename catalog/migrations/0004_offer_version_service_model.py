"""OfferVersion.services gets a through model for the table Django made for it, so that
its rows can be audited (catalog/models/offers.py). Nothing changes in the database."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_consumer_catalog")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OfferVersionService",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                                   serialize=False, verbose_name="ID")),
                        ("offerversion", models.ForeignKey(
                            on_delete=django.db.models.deletion.CASCADE, related_name="+",
                            to="catalog.offerversion")),
                        ("service", models.ForeignKey(
                            on_delete=django.db.models.deletion.CASCADE, related_name="+",
                            to="catalog.service")),
                    ],
                    options={
                        "db_table": "catalog_offerversion_services",
                        "unique_together": {("offerversion", "service")},
                    },
                ),
                migrations.AlterField(
                    model_name="offerversion",
                    name="services",
                    field=models.ManyToManyField(blank=True, related_name="offer_versions",
                                                 through="catalog.OfferVersionService",
                                                 to="catalog.service"),
                ),
            ],
            database_operations=[],
        ),
    ]
