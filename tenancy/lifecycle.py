"""A provider's life after creation: its settings, archiving, and deletion.

- **Archived**: the provider's site answers reads only (tenancy.middleware refuses
  writes), beat queues no work for it and its tasks do nothing (tenancy.jobs), and
  every invoice, PDF and number stays. Archiving can be undone.
- **Deleted**: only an archived provider, only when the caller types its slug again.
  Its schema is dropped (every row it owned), its files under MEDIA_ROOT/<schema>/ are
  removed, and its registry row and host names go. There is no undo but a backup
  (tenancy/backup.py).
"""

import logging
import shutil
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from tenancy.middleware import provider_cache_clear
from tenancy.models import Provider

logger = logging.getLogger(__name__)

ALREADY_ARCHIVED = "{slug} is already archived"
NOT_ARCHIVED = "{slug} is not archived: archive it first (nothing is deleted from a live provider)"
CONFIRMATION_MISMATCH = "type the provider's slug, {slug!r}, to confirm the deletion"
PUBLIC_REFUSED = "the public schema is not a provider"

# What an operator may change on a provider after its creation. `sandbox` never changes
# (a sandbox's clock is not real time); `slug` and `schema_name` name its host and data.
SETTINGS_FIELDS = ("name", "logo", "address", "tax_id", "legal_footer", "billing_timezone",
                   "currency", "grace_period", "future_horizon")
# Changing these re-labels money and months already billed: allowed only while nothing is
# finalized (the caller says so, it knows the invoices).
FIELDS_FIXED_ONCE_BILLED = ("currency", "billing_timezone")
FIXED_ONCE_BILLED = "{field} cannot change once an invoice was finalized in it"


def provider_media_dir(provider: Provider) -> Path:
    """Every file the provider owns: invoices' PDFs, its logo (invoicing/pdf.py,
    tenancy.models.provider_logo_path)."""
    return Path(settings.MEDIA_ROOT) / provider.schema_name


def provider_settings_update(*, provider: Provider, changes: dict,
                             has_finalized_invoices: bool) -> Provider:
    """Apply `changes` (a subset of SETTINGS_FIELDS) after the model's own checks.
    ValidationError per field; nothing is written then."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({name: ["not a provider setting"] for name in unknown})
    errors: dict[str, list[str]] = {}
    if has_finalized_invoices:
        for name in FIELDS_FIXED_ONCE_BILLED:
            if name in changes and changes[name] != getattr(provider, name):
                errors[name] = [FIXED_ONCE_BILLED.format(field=name.replace("_", " "))]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        provider = Provider.objects.select_for_update().get(pk=provider.pk)
        for name, value in changes.items():
            setattr(provider, name, value)
        if "currency" in changes:
            provider.currency = provider.currency.upper()
        provider.full_clean(exclude=["schema_name"], validate_unique=False)
        provider.save()
    provider_cache_clear()
    return provider


def provider_archive(*, provider: Provider, now: datetime) -> Provider:
    """Read-only from now on: no writes, no beat work; everything it billed is kept."""
    _refuse_public(provider)
    with transaction.atomic():
        provider = Provider.objects.select_for_update().get(pk=provider.pk)
        if provider.archived_at is not None:
            raise ValidationError(ALREADY_ARCHIVED.format(slug=provider.slug))
        provider.archived_at = now
        provider.save(update_fields=["archived_at"])
    provider_cache_clear()
    logger.info("archived provider %s", provider.slug)
    return provider


def provider_unarchive(*, provider: Provider) -> Provider:
    with transaction.atomic():
        provider = Provider.objects.select_for_update().get(pk=provider.pk)
        if provider.archived_at is None:
            raise ValidationError(NOT_ARCHIVED.format(slug=provider.slug))
        provider.archived_at = None
        provider.save(update_fields=["archived_at"])
    provider_cache_clear()
    return provider


def provider_delete_errors(*, provider: Provider, confirmation: str) -> list[str]:
    if provider.archived_at is None:
        return [NOT_ARCHIVED.format(slug=provider.slug)]
    if (confirmation or "").strip() != provider.slug:
        return [CONFIRMATION_MISMATCH.format(slug=provider.slug)]
    return []


def provider_delete(*, provider: Provider, confirmation: str) -> None:
    """Drop an archived provider: its schema (every row), its files, its registry row and
    host names. `confirmation` must be its slug, typed again."""
    _refuse_public(provider)
    errors = provider_delete_errors(provider=provider, confirmation=confirmation)
    if errors:
        raise ValidationError(errors)
    schema = provider.schema_name
    connection.set_schema_to_public()
    with transaction.atomic():
        locked = Provider.objects.select_for_update().get(pk=provider.pk)
        with connection.cursor() as cursor:
            # Deferred foreign-key checks still pending in this transaction (rows written
            # earlier in it) would block the drop: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        locked.domains.all().delete()
        locked.delete(force_drop=False)
    # Files after the commit: a failed drop leaves the provider whole, files included.
    shutil.rmtree(provider_media_dir(provider), ignore_errors=True)
    provider_cache_clear()
    logger.info("deleted provider %s (schema %s dropped, files removed)", provider.slug, schema)


def _refuse_public(provider: Provider) -> None:
    if provider.schema_name == "public":
        raise ValidationError(PUBLIC_REFUSED)
