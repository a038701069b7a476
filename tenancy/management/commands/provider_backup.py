"""Back up one provider (its schema, its files, its registry row) to a .tar.gz file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenancy.backup import provider_backup
from tenancy.management.commands._provider_arg import provider_named
from tenancy.site_urls import provider_urls


class Command(BaseCommand):
    help = "Back up a provider: its schema (pg_dump), its files and its settings, in one file."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("file", type=Path, help="Where to write it (.tar.gz).")

    def handle(self, *args, **options):
        provider = provider_named(options["slug"])
        try:
            made = provider_backup(provider=provider, file=options["file"])
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        size = made.file.stat().st_size
        self.stdout.write(self.style.SUCCESS(
            f"Backed up {provider.slug} to {made.file} ({size:,} bytes: schema "
            f"{made.schema_bytes:,} bytes of SQL, {made.files} file(s))"))
        self.stdout.write(f"  of:        {provider_urls(provider)['admin']}")
        self.stdout.write(f"  restore:   manage.py provider_restore {made.file}")
