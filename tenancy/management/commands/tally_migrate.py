"""Migrate every schema: public, the provider template, then each provider."""

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from tenancy.selectors import provider_list_active
from tenancy.services import template_schema_ensure


class Command(BaseCommand):
    help = (
        "Migrate the public schema, the template schema new providers are cloned from, "
        "and every provider's schema."
    )

    def handle(self, *args, **options):
        verbosity = max(0, options["verbosity"] - 1)
        started = time.monotonic()
        self.stdout.write("[1/3] public schema (provider registry) ...")
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)

        self.stdout.write(
            f"[2/3] template schema {settings.TENANT_BASE_SCHEMA!r} "
            "(the first build takes a minute or two; later runs only apply what is new) ..."
        )
        created = template_schema_ensure(verbosity=verbosity)
        if created:
            self.stdout.write("      template schema created")

        providers = list(provider_list_active().values_list("schema_name", flat=True))
        self.stdout.write(f"[3/3] {len(providers)} provider schema(s) ...")
        if providers:
            call_command("migrate_schemas", tenant=True, interactive=False, verbosity=verbosity)
        self.stdout.write(
            self.style.SUCCESS(
                f"Migrated public, template and {len(providers)} provider schema(s) "
                f"in {time.monotonic() - started:.1f} s."
            )
        )
