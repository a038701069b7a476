"""Every provider has one list price list, the prices of `/system/billing`."""

from django.db import migrations


def create_list_price_list(apps, schema_editor):
    PriceList = apps.get_model("catalog", "PriceList")
    PriceList.objects.using(schema_editor.connection.alias).get_or_create(
        key="list", defaults={"name": "List prices", "kind": "list"}
    )


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        # Reversing keeps the row: prices may already point at it.
        migrations.RunPython(create_list_price_list, migrations.RunPython.noop),
    ]
