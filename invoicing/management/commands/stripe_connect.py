"""Connect a provider to its own Stripe account (its keys and webhook secret)."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from audit.context import AuditedCommand
from invoicing.management.commands._providers import providers_from_options
from invoicing.payments.stripe_account import stripe_account_connect, webhook_path


class Command(AuditedCommand):
    help = ("Make a Stripe account the provider's own: its secret and publishable keys, and "
            "the signing secret of the webhook endpoint created for it in Stripe.")

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, help="provider slug")
        parser.add_argument("--secret-key", required=True)
        parser.add_argument("--publishable-key", required=True)
        parser.add_argument("--webhook-secret", required=True, help="whsec_...")
        parser.add_argument("--account-id", default="",
                            help="acct_...; asked of Stripe when left out")

    def handle(self, *args, **options):
        (provider,) = providers_from_options(options)
        with tenant_context(provider):
            try:
                endpoint = stripe_account_connect(
                    secret_key=options["secret_key"],
                    publishable_key=options["publishable_key"],
                    webhook_secret=options["webhook_secret"],
                    account_id=options["account_id"],
                )
            except ValidationError as error:
                raise CommandError("; ".join(
                    f"{field}: {' '.join(messages)}"
                    for field, messages in error.message_dict.items())) from None
        host = provider.get_primary_domain().domain if provider.get_primary_domain() else ""
        self.stdout.write(self.style.SUCCESS(
            f"{provider.slug}: Stripe account {endpoint.djstripe_owner_account_id} connected. "
            f"Webhook URL for Stripe: https://{host}{webhook_path(endpoint)}"))
