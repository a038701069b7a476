"""tally_migrate: every provider schema up to date, none touched when nothing is new."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tenancy import schemas
from tenancy.schemas import applied_migrations, tenant_migrations_on_disk


def test_providers_up_to_date_are_skipped(db, capsys):
    call_command("tally_migrate")
    out = capsys.readouterr().out
    assert "[2/2] 0 of 2 provider schema(s) to migrate" in out
    assert tenant_migrations_on_disk() <= applied_migrations(["alpha"])["alpha"]


def test_providers_behind_the_code_are_migrated(db, capsys, monkeypatch):
    # The code has a migration no provider has recorded: both are behind it.
    on_disk = tenant_migrations_on_disk() | {("probe", "0001_behind")}
    monkeypatch.setattr(schemas, "tenant_migrations_on_disk", lambda: on_disk)
    assert schemas.schemas_behind(["alpha", "beta"]) == ["alpha", "beta"]

    call_command("tally_migrate")

    out = capsys.readouterr().out
    assert "[2/2] 2 of 2 provider schema(s) to migrate" in out
    assert "1/2 alpha" in out and "2/2 beta" in out


def test_provider_schemas_hold_no_public_only_tables(alpha):
    """dj-stripe and the registry live in public only; a provider's schema has none of
    their tables (nor their migrations' records)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'alpha' "
                       "AND (tablename LIKE 'djstripe%%' OR tablename LIKE 'tenancy%%')")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                       "AND tablename = 'djstripe_customer'")
        assert cursor.fetchone()[0] == 1
    assert not {app for app, _ in applied_migrations(["alpha"])["alpha"]} & {
        "djstripe", "tenancy"}


def test_leftovers_of_public_only_apps_are_cleared_from_provider_schemas(db, capsys):
    """An installation from before dj-stripe moved to public: its provider schemas hold
    dj-stripe's (empty) tables and records; tally_migrate drops them."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE alpha.djstripe_leftover (id int)")
        cursor.execute("INSERT INTO alpha.django_migrations (app, name, applied) "
                       "VALUES ('djstripe', '0001_initial', now())")

    call_command("tally_migrate")

    assert "alpha: dropped 1 empty djstripe table(s) (public-only)" in capsys.readouterr().out
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('alpha.djstripe_leftover')")
        assert cursor.fetchone()[0] is None
    assert "djstripe" not in {app for app, _ in applied_migrations(["alpha"])["alpha"]}


def test_a_leftover_table_with_rows_is_never_dropped(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE beta.djstripe_leftover (id int)")
        cursor.execute("INSERT INTO beta.djstripe_leftover VALUES (1)")
    with pytest.raises(CommandError, match="beta.djstripe_leftover holds 1 row"):
        call_command("tally_migrate")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM beta.djstripe_leftover")
        assert cursor.fetchone()[0] == 1
