"""Issue an API key for a user of one provider; the key is printed once."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from accounts.api_keys import api_key_issue
from accounts.models import ApiKeyScope
from audit.context import AuditedCommand
from core.timefmt import instant_from_iso
from cycles.clock import real_now
from tenancy.selectors import provider_get_by_slug

PROVIDER_NOT_FOUND = "no provider with slug {slug!r}: list them in the platform admin"


class Command(AuditedCommand):
    help = "Issue an API key for a user of a provider. The key is shown once and stored hashed."

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, help="the provider's slug")
        parser.add_argument("--user", required=True, help="username inside that provider")
        parser.add_argument("--name", required=True, help="what the key is for")
        parser.add_argument("--scope", default=ApiKeyScope.ADMIN, choices=ApiKeyScope.values,
                            help="ingest: usage and lifecycle events only; read: GET only; "
                            "admin (default): whatever the user's roles allow")
        parser.add_argument("--expires", metavar="ISO-8601", default=None,
                            help="refused from then on, e.g. 2027-01-01T00:00:00Z")

    def handle(self, *args, **options):
        provider = provider_get_by_slug(slug=options["provider"])
        if provider is None:
            raise CommandError(PROVIDER_NOT_FOUND.format(slug=options["provider"]))
        expires_at = None
        if options["expires"]:
            try:
                expires_at = instant_from_iso(options["expires"])
            except ValueError as error:
                raise CommandError(f"--expires: {error}") from None
        with tenant_context(provider):
            try:
                issued = api_key_issue(username=options["user"], name=options["name"],
                                       scope=options["scope"], expires_at=expires_at,
                                       now=real_now())
            except ValidationError as exc:
                lines = [f"{f}: {m}" for f, ms in exc.message_dict.items() for m in ms]
                raise CommandError("cannot issue API key: " + "; ".join(lines)) from exc
        self.stdout.write(self.style.SUCCESS(f"Issued API key {issued.api_key.name!r}"))
        self.stdout.write(f"  provider: {provider.slug}")
        self.stdout.write(f"  user:     {issued.api_key.user.username}")
        self.stdout.write(f"  scope:    {issued.api_key.scope}")
        if issued.api_key.expires_at:
            self.stdout.write(f"  expires:  {issued.api_key.expires_at.isoformat()}")
        self.stdout.write(f"  key:      {issued.secret}")
        self.stdout.write("  Store it now: it is kept hashed and cannot be shown again.")
