"""Delete an archived provider: its schema, files, registry row and host names."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from audit.context import AuditedCommand
from tenancy.lifecycle import provider_delete, provider_media_dir
from tenancy.management.commands._provider_arg import provider_named
from tenancy.site_urls import provider_urls


class Command(AuditedCommand):
    help = ("Delete an ARCHIVED provider for good: drops its schema (every invoice, user and "
            "event in it) and its files. Type its slug again to confirm, or pass --confirm.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--confirm", metavar="SLUG",
                            help="The provider's slug again (for scripts; otherwise asked).")

    def handle(self, *args, **options):
        provider = provider_named(options["slug"])
        urls = provider_urls(provider)
        confirmation = options["confirm"]
        if confirmation is None:
            if provider.archived_at is None:
                raise CommandError(f"{provider.slug} is not archived: run "
                                   f"manage.py provider_archive {provider.slug} first")
            self.stdout.write(f"This drops schema {provider.schema_name} and removes "
                              f"{provider_media_dir(provider)}. There is no undo but a backup "
                              f"(manage.py provider_backup).")
            confirmation = input(f"Type {provider.slug} to delete it: ")
        try:
            provider_delete(provider=provider, confirmation=confirmation)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(self.style.SUCCESS(
            f"Deleted {provider.slug}: schema {provider.schema_name} dropped, files removed"))
        self.stdout.write(f"  {urls['admin']} no longer answers (404)")
