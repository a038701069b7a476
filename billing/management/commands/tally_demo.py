"""Load the demo provider: idempotent, so every `dev.py up` can run it."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from accounts.onboarding import provider_onboard
from audit.context import AuditedCommand
from billing.demo import demo_chargeback_load, demo_consumer_load
from core.timefmt import datetime_text, instant_from_iso
from cycles.clock import clock_now
from tenancy.models import BillingMode
from tenancy.selectors import provider_get_by_slug

DEMO_SLUG = "demo"
# The consumer demo sells offers, so it is a provider of its own (a chargeback provider
# prices running time by list prices, one that sells offers by entitlements).
DATUM_SLUG = "datum"
DEMO_OPERATOR = ("operator", "operator-demo")
DEMO_CONSUMER = ("consumer", "consumer-demo")


class Command(AuditedCommand):
    help = ("Create the demo providers with an operator and a consumer login (safe to "
            "repeat); with --sandbox, a sandbox provider holding the offers demo instead.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--sandbox", metavar="SLUG",
            help="load the offers demo (Datum's Free / Pro / Enterprise and their consumers) "
            "into a new sandbox provider SLUG, on a test clock, to rehearse month ends")
        parser.add_argument(
            "--frozen-at", metavar="ISO-8601",
            help="with --sandbox: where its clock is frozen (default: now), e.g. "
            "2026-03-10T09:00:00Z; the demo's history is the month before it")
        parser.add_argument("--timezone", default=None,
                            help="with --sandbox: its billing time zone (IANA name; default UTC)")

    def handle(self, *args, **options):
        if options["sandbox"]:
            self._datum(slug=options["sandbox"], name=f"{options['sandbox'].title()} Sandbox",
                        sandbox=True, frozen_at=_instant(options["frozen_at"]),
                        zone=options["timezone"] or "UTC")
            return
        if options["frozen_at"] or options["timezone"]:
            raise CommandError("--frozen-at and --timezone go with --sandbox: the demo "
                               "providers run on real time, in UTC")
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
            loaded = demo_chargeback_load(now=clock_now())
        if loaded is None:
            self.stdout.write("demo data already loaded")
        else:
            self.stdout.write(
                f"loaded demo data: {loaded.organizations} organizations, {loaded.projects} "
                f"projects, {loaded.events} lifecycle events, {loaded.invoices_finalized} "
                "finalized invoices for last month"
            )

        self._datum(slug=DATUM_SLUG, name="Datum Cloud")

    def _datum(self, *, slug: str, name: str, sandbox: bool = False, frozen_at=None,
               zone: str = "UTC"):
        provider = provider_get_by_slug(slug=slug)
        if provider is None:
            try:
                created = provider_onboard(
                    name=name, slug=slug, admin_username=DEMO_OPERATOR[0],
                    admin_email=f"operator@{slug}.localhost", admin_password=DEMO_OPERATOR[1],
                    billing_mode=BillingMode.OFFERS, sandbox=sandbox, clock_frozen_at=frozen_at,
                    billing_timezone=zone,
                )
            except ValidationError as error:
                raise CommandError("; ".join(f"{field}: {reason}" for field, reasons
                                             in error.message_dict.items()
                                             for reason in reasons)) from error
            provider = created.provider
            self.stdout.write(f"created provider {provider.slug} on {created.domain}")
        elif sandbox and not provider.sandbox:
            raise CommandError(f"{slug} is a live provider: choose another slug for a sandbox")
        with tenant_context(provider):
            users = get_user_model().objects
            if not users.filter(username=DEMO_CONSUMER[0]).exists():
                users.create_user(username=DEMO_CONSUMER[0], email=f"consumer@{slug}.localhost",
                                  password=DEMO_CONSUMER[1])
            now = clock_now()
            loaded = demo_consumer_load(now=now)
        if loaded is None:
            self.stdout.write(f"{slug} demo data already loaded")
        else:
            self.stdout.write(
                f"loaded {slug} demo data: {loaded.organizations} consumers on Free, Pro and "
                f"Enterprise, {loaded.events} usage and lifecycle events, "
                f"{loaded.invoices_finalized} finalized invoices for last month"
            )
        if provider.sandbox:
            self.stdout.write(f"{slug} is a sandbox: its clock reads "
                              f"{datetime_text(now, provider.billing_timezone)}; move it with "
                              "POST /api/v1/test-clock/advance or its admin's Test clock page")



def _instant(text: str | None):
    if text is None:
        return None
    try:
        return instant_from_iso(text)
    except ValueError as error:
        raise CommandError(f"--frozen-at {text!r}: {error}") from None
