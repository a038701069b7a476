"""Migrate every schema: public, the provider template, then each provider that needs it."""

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from tenancy.selectors import provider_list_active
from tenancy.services import template_schema_ensure


def applied_migrations(schemas: list[str]) -> dict[str, frozenset[tuple[str, str]]]:
    """Each schema's applied migrations, in one query over all of them."""
    if not schemas:
        return {}
    parts = [
        f"SELECT %s, app, name FROM \"{schema}\".django_migrations" for schema in schemas
    ]
    applied: dict[str, set[tuple[str, str]]] = {schema: set() for schema in schemas}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), schemas)
        for schema, app, name in cursor.fetchall():
            applied[schema].add((app, name))
    return {schema: frozenset(rows) for schema, rows in applied.items()}


class Command(BaseCommand):
    help = (
        "Migrate the public schema, the template schema new providers are cloned from, "
        "and every provider's schema that is behind the template."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true",
            help="run migrate on every provider schema, even those already level with the "
            "template",
        )

    def handle(self, *args, **options):
        verbosity = max(0, options["verbosity"] - 1)
        started = time.monotonic()
        self.stdout.write("[1/3] public schema (provider registry) ...")
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)

        template = settings.TENANT_BASE_SCHEMA
        self.stdout.write(
            f"[2/3] template schema {template!r} "
            "(the first build takes a minute or two; later runs only apply what is new) ..."
        )
        if template_schema_ensure(verbosity=verbosity):
            self.stdout.write("      template schema created")

        schemas = list(provider_list_active().values_list("schema_name", flat=True))
        # A schema whose applied migrations equal the freshly migrated template's has
        # nothing to apply: skipping it saves django-tenants' ~300 ms per schema of
        # building a migration executor only to find that out.
        applied = applied_migrations([template, *schemas])
        behind = schemas if options["all"] else [
            schema for schema in schemas if applied[schema] != applied[template]
        ]
        self.stdout.write(f"[3/3] {len(behind)} of {len(schemas)} provider schema(s) to migrate")
        for index, schema in enumerate(behind, start=1):
            self.stdout.write(f"      {index}/{len(behind)} {schema}")
            call_command("migrate_schemas", tenant=True, schema_name=schema, interactive=False,
                         verbosity=verbosity)
        connection.set_schema_to_public()
        self.stdout.write(
            self.style.SUCCESS(
                f"Migrated public, template and {len(behind)} provider schema(s) "
                f"in {time.monotonic() - started:.1f} s."
            )
        )
