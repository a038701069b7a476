"""Create a service provider: its schema, its host name and its first admin user."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from accounts.onboarding import provider_onboard
from audit.context import AuditedCommand
from core.periods import parse_month
from core.timefmt import datetime_text, instant_from_iso
from cycles.clock import clock_now
from cycles.selectors import billing_start_at, month_label
from cycles.services import billing_start_set
from tenancy.models import BillingMode
from tenancy.site_urls import provider_urls


class Command(AuditedCommand):
    help = "Create a provider with its schema, domain <slug>.<base domain> and first admin."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="short name, becomes the host <slug>.<base domain>")
        parser.add_argument("--name", required=True, help="display name, printed on invoices")
        parser.add_argument("--admin", required=True, help="username of the first admin")
        parser.add_argument("--admin-email", default="")
        parser.add_argument(
            "--admin-password", default=None, help="omit to generate one (printed once)"
        )
        parser.add_argument("--currency", default="USD", help="ISO 4217 code (default USD)")
        parser.add_argument("--timezone", default="UTC", help="billing time zone (IANA name)")
        parser.add_argument(
            "--grace-hours", type=int, default=0, help="hours after cycle end before finalizing"
        )
        parser.add_argument(
            "--mode", choices=[c.value for c in BillingMode], default=BillingMode.CHARGEBACK
        )
        parser.add_argument("--base-domain", default=None)
        parser.add_argument(
            "--sandbox", action="store_true",
            help="a sandbox: runs on its own test clock, frozen at creation, moved forward "
            "with POST /api/v1/test-clock/advance (or its admin's button)",
        )
        parser.add_argument(
            "--frozen-at", default=None, metavar="ISO-8601",
            help="with --sandbox: freeze its clock here instead, e.g. 2026-03-01T00:00:00Z",
        )
        parser.add_argument(
            "--billing-start", default=None, metavar="YYYY-MM",
            help="first month billed, in the billing zone (default: this month); set it "
            "back to import history",
        )

    def handle(self, *args, **options):
        if options["grace_hours"] < 0:
            raise CommandError("--grace-hours cannot be negative")
        frozen_at = _instant(options["frozen_at"])
        if options["billing_start"]:
            try:
                parse_month(options["billing_start"])
            except ValueError as error:
                raise CommandError(f"--billing-start: {error}") from None
        try:
            created = provider_onboard(
                name=options["name"],
                slug=options["slug"],
                admin_username=options["admin"],
                admin_email=options["admin_email"],
                admin_password=options["admin_password"],
                currency=options["currency"],
                billing_timezone=options["timezone"],
                grace_period=timedelta(hours=options["grace_hours"]),
                billing_mode=options["mode"],
                sandbox=options["sandbox"],
                clock_frozen_at=frozen_at,
                base_domain=options["base_domain"],
            )
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from exc
        p = created.provider
        with tenant_context(p):
            if options["billing_start"]:
                billing_start_set(month=options["billing_start"])
            start = month_label(billing_start_at())
        self.stdout.write(self.style.SUCCESS(f"Created provider {p.name!r}"))
        self.stdout.write(f"  slug:      {p.slug} (schema {p.schema_name})")
        self.stdout.write(f"  currency:  {p.currency}, billing time zone {p.billing_timezone}")
        self.stdout.write(f"  bills from {start} (nothing dated before it is accepted)")
        urls = provider_urls(p)
        self.stdout.write(f"  admin:     {urls['admin']}")
        self.stdout.write(f"  dashboard: {urls['dashboard']}")
        self.stdout.write(f"  API docs:  {urls['api']}")
        if p.sandbox:
            with tenant_context(p):
                frozen = clock_now()
            self.stdout.write(f"  sandbox:   test clock frozen at "
                              f"{datetime_text(frozen, p.billing_timezone)}")
        self.stdout.write(f"  fleet admin: {created.admin_username}")
        if not options["admin_password"]:
            self.stdout.write(f"  password:  {created.admin_password}  (shown once)")


def _instant(text: str | None):
    if text is None:
        return None
    try:
        return instant_from_iso(text)
    except ValueError as error:
        raise CommandError(f"--frozen-at {text!r}: {error}") from None


def _describe(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        lines = [f"{field}: {msg}" for field, msgs in exc.message_dict.items() for msg in msgs]
        return "cannot create provider:\n  " + "\n  ".join(lines)
    return "cannot create provider: " + "; ".join(exc.messages)
