"""The moved table takes this app's name, once invoicing and budgets point at it."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("cycles", "0001_initial"),
        ("invoicing", "0007_billingcycle_moved_to_cycles"),
        ("budgets", "0002_billingcycle_moved_to_cycles"),
    ]

    operations = [
        migrations.AlterModelTable(name="billingcycle", table=None),
    ]
