"""tally_migrate: every schema level with the template, none touched when nothing is new."""

from django.core.management import call_command
from django.db import connection

from tenancy.management.commands.tally_migrate import applied_migrations


def test_providers_level_with_the_template_are_skipped(db, capsys):
    call_command("tally_migrate")
    out = capsys.readouterr().out
    assert "[3/3] 0 of 2 provider schema(s) to migrate" in out


def test_providers_behind_the_template_are_migrated(db, capsys):
    # The template records a migration the providers have not: both are behind it.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tally_template.django_migrations (app, name, applied) "
            "VALUES ('tenancy_probe', '0001_behind', now())"
        )
    assert applied_migrations(["alpha"])["alpha"] != applied_migrations(
        ["tally_template"])["tally_template"]

    call_command("tally_migrate")

    out = capsys.readouterr().out
    assert "[3/3] 2 of 2 provider schema(s) to migrate" in out
    assert "1/2 alpha" in out and "2/2 beta" in out
