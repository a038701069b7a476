"""Load the demo provider: idempotent, so every `dev.py up` can run it."""

from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.onboarding import provider_onboard
from audit.context import AuditedCommand
from billing.demo import demo_chargeback_load, demo_consumer_load
from tenancy.models import BillingMode
from tenancy.selectors import provider_get_by_slug

DEMO_SLUG = "demo"
# The consumer demo sells offers, so it is a provider of its own (a chargeback provider
# prices running time by list prices, one that sells offers by entitlements).
DATUM_SLUG = "datum"
DEMO_OPERATOR = ("operator", "operator-demo")
DEMO_CONSUMER = ("consumer", "consumer-demo")


class Command(AuditedCommand):
    help = "Create the demo provider with an operator and a consumer login (safe to repeat)."

    def handle(self, *args, **options):
        provider = provider_get_by_slug(slug=DEMO_SLUG)
        if provider is None:
            created = provider_onboard(
                name="Demo Cloud",
                slug=DEMO_SLUG,
                admin_username=DEMO_OPERATOR[0],
                admin_email="operator@demo.localhost",
                admin_password=DEMO_OPERATOR[1],
            )
            provider = created.provider
            self.stdout.write(f"created provider {provider.slug} on {created.domain}")
        else:
            self.stdout.write(f"provider {provider.slug} already exists")
        with tenant_context(provider):
            users = get_user_model().objects
            if not users.filter(username=DEMO_CONSUMER[0]).exists():
                users.create_user(
                    username=DEMO_CONSUMER[0],
                    email="consumer@demo.localhost",
                    password=DEMO_CONSUMER[1],
                )
                self.stdout.write(f"created consumer login {DEMO_CONSUMER[0]}")
            loaded = demo_chargeback_load(now=timezone.now())
        if loaded is None:
            self.stdout.write("demo data already loaded")
        else:
            self.stdout.write(
                f"loaded demo data: {loaded.organizations} organizations, {loaded.projects} "
                f"projects, {loaded.events} lifecycle events, {loaded.invoices_finalized} "
                "finalized invoices for last month"
            )

        self._datum()

    def _datum(self):
        provider = provider_get_by_slug(slug=DATUM_SLUG)
        if provider is None:
            created = provider_onboard(
                name="Datum Cloud", slug=DATUM_SLUG, admin_username=DEMO_OPERATOR[0],
                admin_email="operator@datum.localhost", admin_password=DEMO_OPERATOR[1],
                billing_mode=BillingMode.OFFERS,
            )
            provider = created.provider
            self.stdout.write(f"created provider {provider.slug} on {created.domain}")
        with tenant_context(provider):
            users = get_user_model().objects
            if not users.filter(username=DEMO_CONSUMER[0]).exists():
                users.create_user(username=DEMO_CONSUMER[0], email="consumer@datum.localhost",
                                  password=DEMO_CONSUMER[1])
            loaded = demo_consumer_load(now=timezone.now())
        if loaded is None:
            self.stdout.write("datum demo data already loaded")
        else:
            self.stdout.write(
                f"loaded datum demo data: {loaded.organizations} consumers on Free, Pro and "
                f"Enterprise, {loaded.events} usage and lifecycle events, "
                f"{loaded.invoices_finalized} finalized invoices for last month"
            )
