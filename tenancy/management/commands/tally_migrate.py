"""Migrate every schema: public, then each provider that lacks a migration the code has."""

import time

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.context import AuditedCommand
from tenancy.models import Provider
from tenancy.schemas import schema_migrate, schemas_behind, shared_only_leftovers_clear
from tenancy.selectors import provider_list_all


class Command(AuditedCommand):
    help = (
        "Migrate the public schema (the provider registry and dj-stripe), then every "
        "provider's schema that lacks a migration the code has."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true",
            help="run migrate on every provider schema, even those already up to date",
        )

    def handle(self, *args, **options):
        verbosity = max(0, options["verbosity"] - 1)
        started = time.monotonic()
        # A fresh database has no registry yet: no provider, and no leftovers to clear.
        fresh = Provider._meta.db_table not in connection.introspection.table_names()
        schemas = [] if fresh else list(
            provider_list_all().values_list("schema_name", flat=True))
        try:
            for line in ([] if fresh else shared_only_leftovers_clear(schemas)):
                self.stdout.write(f"      {line}")
        except RuntimeError as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write("[1/2] public schema (provider registry, dj-stripe; the first "
                          "build takes about a minute, later runs only apply what is new) ...")
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
        # Skipping a schema that has every migration saves django-tenants' ~300 ms per
        # schema of building a migration executor only to find nothing to do.
        behind = schemas if options["all"] else schemas_behind(schemas)
        self.stdout.write(f"[2/2] {len(behind)} of {len(schemas)} provider schema(s) to migrate")
        for index, schema in enumerate(behind, start=1):
            self.stdout.write(f"      {index}/{len(behind)} {schema}")
            schema_migrate(schema, verbosity=verbosity)
        self.stdout.write(self.style.SUCCESS(
            f"Migrated public and {len(behind)} provider schema(s) "
            f"in {time.monotonic() - started:.1f} s."))
