"""A provider's schema: made, migrated, and compared with the migrations on disk.

Only tenant apps have tables in a provider's schema. Django would still walk the
shared-only apps' migrations there (router-skipped no-ops) and build their model
states: dj-stripe's alone cost about 50 s of CPU per schema. Provider schemas are
therefore migrated with the shared-only apps' migrations switched off
(`MIGRATION_MODULES = None` for them, by tenancy/migrate_command.py, which django-tenants
runs in every schema), which creates exactly the same tables in about 3 s.
"""

from functools import cache

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader


@cache
def shared_only_labels() -> frozenset[str]:
    """Apps whose tables live in the public schema only (the provider registry, dj-stripe)."""
    tenant = {_label(name) for name in settings.TENANT_APPS}
    shared = {_label(name) for name in settings.SHARED_APPS}
    return frozenset(shared - tenant)


def _label(name: str) -> str:
    """The app label of an INSTALLED_APPS entry (a module path or an AppConfig path)."""
    for config in apps.get_app_configs():
        if name in (config.name, f"{type(config).__module__}.{type(config).__name__}"):
            return config.label
    raise LookupError(name)


def schema_create(schema_name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema_name}"')


def schema_migrate(schema_name: str, *, verbosity: int = 0) -> None:
    """Apply every tenant app's migrations to one provider schema (django-tenants runs
    tenancy/migrate_command.py in it, which leaves out the public-only apps)."""
    try:
        call_command("migrate_schemas", tenant=True, schema_name=schema_name,
                     interactive=False, verbosity=verbosity)
    finally:
        # migrate_schemas leaves the connection in the schema it migrated last.
        connection.set_schema_to_public()


@cache
def tenant_migrations_on_disk() -> frozenset[tuple[str, str]]:
    """(app, migration) of every tenant app migration in the code."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    skip = shared_only_labels()
    return frozenset(key for key in loader.disk_migrations if key[0] not in skip)


def applied_migrations(schemas: list[str]) -> dict[str, frozenset[tuple[str, str]]]:
    """Each schema's applied migrations, in one query over all of them."""
    if not schemas:
        return {}
    parts = [f'SELECT %s, app, name FROM "{schema}".django_migrations' for schema in schemas]
    applied: dict[str, set[tuple[str, str]]] = {schema: set() for schema in schemas}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), schemas)
        for schema, app, name in cursor.fetchall():
            applied[schema].add((app, name))
    return {schema: frozenset(rows) for schema, rows in applied.items()}


def schemas_behind(schemas: list[str]) -> list[str]:
    """The schemas that lack a tenant migration the code has."""
    wanted = tenant_migrations_on_disk()
    applied = applied_migrations(schemas)
    return [schema for schema in schemas if not wanted <= applied[schema]]


OLD_TEMPLATE = "tally_template"
LEFTOVER_NOT_EMPTY = (
    "{schema}.{table} holds {rows} row(s), but {app} keeps its tables in the public schema "
    "only: move them to public.{table} by hand (or drop them if unused), then run "
    "tally_migrate again"
)


def _tables(cursor, schema: str, label: str) -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
                   [schema, f"{label}\\_%"])
    return [row[0] for row in cursor.fetchall()]


def _recorded(cursor, schema: str, label: str) -> bool:
    cursor.execute(f'SELECT 1 FROM "{schema}".django_migrations WHERE app = %s LIMIT 1', [label])
    return cursor.fetchone() is not None


def shared_only_leftovers_clear(provider_schemas: list[str]) -> list[str]:
    """Installations from before dj-stripe moved to the public schema (it used to be
    migrated into every provider schema, and only recorded in public): drop the empty
    tables and records of public-only apps from provider schemas, and forget public's
    records of migrations whose tables it never got, so they are applied there. Refuses
    (RuntimeError) to drop a table that holds rows. Returns what it did, for people."""
    done = []
    with connection.cursor() as cursor:
        # Providers used to be cloned from this schema, which only ever held empty tables.
        cursor.execute(f"DROP SCHEMA IF EXISTS {OLD_TEMPLATE} CASCADE")
        for label in sorted(shared_only_labels()):
            for schema in provider_schemas:
                done += _clear_provider_leftover(cursor, schema, label)
            if _recorded(cursor, "public", label) and not _tables(cursor, "public", label) \
                    and tenant_model_tables(label):
                cursor.execute("DELETE FROM public.django_migrations WHERE app = %s", [label])
                done.append(f"public: {label} will be migrated here")
    return done


def _clear_provider_leftover(cursor, schema: str, label: str) -> list[str]:
    tables = _tables(cursor, schema, label)
    for table in tables:
        cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}"')
        rows = cursor.fetchone()[0]
        if rows:
            raise RuntimeError(LEFTOVER_NOT_EMPTY.format(schema=schema, table=table,
                                                         rows=rows, app=label))
    for table in tables:
        cursor.execute(f'DROP TABLE IF EXISTS "{schema}"."{table}" CASCADE')
    if not (tables or _recorded(cursor, schema, label)):
        return []
    cursor.execute(f'DELETE FROM "{schema}".django_migrations WHERE app = %s', [label])
    if not tables:
        return [f"{schema}: forgot the records of {label}'s migrations (public-only)"]
    return [f"{schema}: dropped {len(tables)} empty {label} table(s) (public-only)"]


def tenant_model_tables(label: str) -> list[str]:
    """The tables an app's models have (empty for apps without models)."""
    return [model._meta.db_table for model in apps.get_app_config(label).get_models()]
