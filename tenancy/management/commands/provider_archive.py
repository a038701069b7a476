"""Archive a provider (read-only, no beat work, invoices kept), or with --undo restore it to
service."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone

from audit.context import AuditedCommand
from tenancy.lifecycle import provider_archive, provider_unarchive
from tenancy.management.commands._provider_arg import provider_named
from tenancy.site_urls import provider_urls


class Command(AuditedCommand):
    help = ("Archive a provider: its site answers reads only, beat does no work for it, "
            "its invoices and files are kept. --undo puts it back in service.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--undo", action="store_true", help="Restore it to service.")

    def handle(self, *args, **options):
        provider = provider_named(options["slug"])
        try:
            if options["undo"]:
                provider = provider_unarchive(provider=provider)
            else:
                # Wall-clock time: archiving is an act on the installation, not billing.
                provider = provider_archive(provider=provider, now=timezone.now())
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        urls = provider_urls(provider)
        if options["undo"]:
            self.stdout.write(self.style.SUCCESS(f"{provider.slug} is back in service"))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"{provider.slug} is archived: read-only, no beat work, invoices kept"))
            self.stdout.write(f"  delete it: manage.py provider_delete {provider.slug}")
        self.stdout.write(f"  admin:     {urls['admin']}")
        self.stdout.write(f"  dashboard: {urls['dashboard']}")
