"""The provider registry, in the public schema: who the tenants are and their hosts."""

from datetime import timedelta

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from tenancy.validators import validate_currency, validate_slug, validate_timezone


class BillingMode(models.TextChoices):
    # All usage priced by the provider's list prices (the private-cloud seed).
    CHARGEBACK = "chargeback", "Charge back internal teams"
    # Usage priced by the entitlements of each project's billing account.
    OFFERS = "offers", "Sell offers to consumers"


def provider_logo_path(provider: "Provider", filename: str) -> str:
    """Under the provider's own media folder (MEDIA_ROOT/<schema>/), next to its invoices,
    so a provider's files are backed up and deleted as one folder."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "png"
    return f"{provider.schema_name}/branding/logo.{suffix}"


class Provider(TenantMixin):
    """A service provider: one tenant, one PostgreSQL schema."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=40, unique=True, validators=[validate_slug])
    currency = models.CharField(max_length=3, default="USD", validators=[validate_currency])
    billing_timezone = models.CharField(
        max_length=64, default="UTC", validators=[validate_timezone]
    )
    grace_period = models.DurationField(
        default=timedelta(0), help_text="How long after a cycle ends its invoices are finalized."
    )
    billing_mode = models.CharField(
        max_length=20, choices=BillingMode.choices, default=BillingMode.CHARGEBACK
    )
    address = models.TextField(blank=True, help_text="Printed on invoices.")
    logo = models.ImageField(
        upload_to=provider_logo_path, blank=True,
        help_text="Shown in the provider's admin and printed on invoices (PNG or JPEG).",
    )
    tax_id = models.CharField(
        max_length=64, blank=True, help_text="Tax or VAT number, printed on invoices."
    )
    legal_footer = models.TextField(
        blank=True, help_text="Legal text printed at the foot of every invoice."
    )
    archived_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Set when the provider was archived: its site is read-only, beat does no "
        "work for it, its invoices are kept. Only an archived provider can be deleted.",
    )
    billing_start = models.DateTimeField(
        null=True, blank=True,
        help_text="The first instant this provider bills (the start of a billing month, may "
        "be years back for imported history). Empty: the month the provider was created.",
    )
    future_horizon = models.DurationField(
        default=timedelta(days=1),
        help_text="How far ahead of now an event may be dated; later ones are refused.",
    )
    sandbox = models.BooleanField(
        default=False,
        help_text="A sandbox runs on its own test clock, which moves forward only when told "
        "to; a live provider runs on real time.",
    )
    # Requests per minute one API key may make (accounts.throttling; 0: no limit).
    api_rate_ingest = models.PositiveIntegerField(
        default=600, help_text="Ingestion requests (batches of events) per minute per API key.")
    api_rate_read = models.PositiveIntegerField(
        default=1200, help_text="Reads (GET) per minute per API key.")
    api_rate_write = models.PositiveIntegerField(
        default=300, help_text="Other writes per minute per API key.")
    created_at = models.DateTimeField(auto_now_add=True)

    # Its schema is made and migrated by tenancy.services.provider_create, in the same
    # transaction as this row (tenancy/schemas.py), not by django-tenants on save().
    auto_create_schema = False
    # Deleting a registry row must never silently destroy a provider's billing history.
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(grace_period__gte=timedelta(0)),
                name="provider_grace_period_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(future_horizon__gte=timedelta(0)),
                name="provider_future_horizon_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class Domain(DomainMixin):
    """A host name that routes to one provider's schema."""

    def __str__(self) -> str:
        return self.domain
