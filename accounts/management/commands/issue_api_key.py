"""Issue an API key for a user of one provider; the key is printed once."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from accounts.api_keys import api_key_issue
from audit.context import AuditedCommand
from tenancy.selectors import provider_get_by_slug

PROVIDER_NOT_FOUND = "no provider with slug {slug!r}: list them in the platform admin"


class Command(AuditedCommand):
    help = "Issue an API key for a user of a provider. The key is shown once and stored hashed."

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, help="the provider's slug")
        parser.add_argument("--user", required=True, help="username inside that provider")
        parser.add_argument("--name", required=True, help="what the key is for")

    def handle(self, *args, **options):
        provider = provider_get_by_slug(slug=options["provider"])
        if provider is None:
            raise CommandError(PROVIDER_NOT_FOUND.format(slug=options["provider"]))
        with tenant_context(provider):
            try:
                issued = api_key_issue(username=options["user"], name=options["name"])
            except ValidationError as exc:
                lines = [f"{f}: {m}" for f, ms in exc.message_dict.items() for m in ms]
                raise CommandError("cannot issue API key: " + "; ".join(lines)) from exc
        self.stdout.write(self.style.SUCCESS(f"Issued API key {issued.api_key.name!r}"))
        self.stdout.write(f"  provider: {provider.slug}")
        self.stdout.write(f"  user:     {issued.api_key.user.username}")
        self.stdout.write(f"  key:      {issued.secret}")
        self.stdout.write("  Store it now: it is kept hashed and cannot be shown again.")
