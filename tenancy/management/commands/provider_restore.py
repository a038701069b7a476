"""Restore a provider from `provider_backup`'s file into this installation."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenancy.backup import provider_restore
from tenancy.site_urls import provider_urls


class Command(BaseCommand):
    help = ("Restore a provider from a backup file (manage.py provider_backup). Refuses a "
            "provider whose slug, schema or host exists here.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options):
        if not options["file"].is_file():
            raise CommandError(f"no file {options['file']}")
        try:
            provider = provider_restore(file=options["file"])
        except (ValueError, RuntimeError) as error:
            raise CommandError(str(error)) from None
        urls = provider_urls(provider)
        state = " (archived: read-only)" if provider.archived_at else ""
        self.stdout.write(self.style.SUCCESS(
            f"Restored {provider.slug} ({provider.name}){state} from {options['file']}"))
        self.stdout.write(f"  admin:     {urls['admin']}")
        self.stdout.write(f"  dashboard: {urls['dashboard']}")
        self.stdout.write(f"  API docs:  {urls['api']}")
