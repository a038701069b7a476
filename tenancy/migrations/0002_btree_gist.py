from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations


class Migration(migrations.Migration):
    """Exclusion constraints on effective-dated rows (prices, project assignments)
    compare plain columns with `=` in a GiST index. The extension is installed once,
    in the public schema, which every provider's search_path includes."""

    dependencies = [("tenancy", "0001_initial")]

    operations = [BtreeGistExtension()]
