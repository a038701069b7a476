"""Writes to the provider registry: creating providers and their schemas."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from tenancy.models import BillingMode, Domain, Provider
from tenancy.schemas import schema_create, schema_migrate

logger = logging.getLogger(__name__)

SLUG_TAKEN = "a provider with slug {slug!r} already exists"


@dataclass(frozen=True)
class ProviderCreated:
    provider: Provider
    domain: str


def _schema_name_for(slug: str) -> str:
    # Hyphens are legal in slugs and host names but awkward in SQL identifiers.
    return slug.replace("-", "_")


def _provider_unsaved(*, name: str, slug: str, currency: str, billing_timezone: str,
                      grace_period: timedelta, billing_mode: str, sandbox: bool) -> Provider:
    return Provider(
        name=name.strip(), slug=slug, schema_name=_schema_name_for(slug),
        currency=currency.upper(), billing_timezone=billing_timezone,
        grace_period=grace_period, billing_mode=billing_mode, sandbox=sandbox,
    )


def provider_errors(*, name: str, slug: str, currency: str = "USD",
                    billing_timezone: str = "UTC", grace_period: timedelta = timedelta(0),
                    billing_mode: str = BillingMode.CHARGEBACK,
                    sandbox: bool = False) -> dict[str, list[str]]:
    """Why these provider fields would be refused, per field (empty: they would not)."""
    provider = _provider_unsaved(name=name, slug=slug, currency=currency,
                                 billing_timezone=billing_timezone, grace_period=grace_period,
                                 billing_mode=billing_mode, sandbox=sandbox)
    errors: dict[str, list[str]] = {}
    try:
        provider.full_clean(exclude=["schema_name"], validate_unique=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if "slug" not in errors and Provider.objects.filter(slug=slug).exists():
        errors["slug"] = [SLUG_TAKEN.format(slug=slug)]
    return errors


def provider_create(
    *,
    name: str,
    slug: str,
    currency: str = "USD",
    billing_timezone: str = "UTC",
    grace_period: timedelta = timedelta(0),
    billing_mode: str = BillingMode.CHARGEBACK,
    sandbox: bool = False,
    base_domain: str | None = None,
) -> ProviderCreated:
    """Register a provider, clone its schema and route its host.

    All or nothing: a failure at any step leaves no registry row, no schema and
    no domain behind (PostgreSQL DDL is transactional). The schema is migrated
    (tenancy/schemas.py), about 3 s of CPU whatever the number of providers.
    Its people (the first fleet admin) are made by `accounts.onboarding`. A sandbox
    runs on its own test clock, frozen at its creation (cycles/clock.py).
    """
    fields = {"name": name, "slug": slug, "currency": currency,
              "billing_timezone": billing_timezone, "grace_period": grace_period,
              "billing_mode": billing_mode, "sandbox": sandbox}
    errors = provider_errors(**fields)
    if errors:
        raise ValidationError(errors)
    provider = _provider_unsaved(**fields)
    host = f"{slug}.{base_domain or settings.TALLY_BASE_DOMAIN}"
    with transaction.atomic():
        provider.save(verbosity=0)
        schema_create(provider.schema_name)
        schema_migrate(provider.schema_name)
        Domain.objects.create(domain=host, tenant=provider, is_primary=True)
    logger.info("created provider %s on %s", slug, host)
    return ProviderCreated(provider=provider, domain=host)
