"""A new provider with its first fleet admin: the registry entry (tenancy) and the
first person who may run it (accounts), made together or not at all."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django_tenants.utils import schema_context

from accounts.models import Role, RoleGrant
from core.periods import month_containing
from cycles.clock_advance import sandbox_clock_start
from tenancy.models import Provider
from tenancy.services import provider_create, provider_errors

ADMIN_USERNAME_INVALID = "admin username must be 1-150 letters, digits or @.+-_"
CLOCK_ONLY_FOR_SANDBOX = "only a sandbox has a test clock to freeze: add sandbox"
CLOCK_NEEDS_OFFSET = "give the instant with its UTC offset, e.g. 2026-03-01T00:00:00Z"


@dataclass(frozen=True)
class ProviderOnboarded:
    provider: Provider
    domain: str
    admin_username: str
    admin_password: str


def _admin_username_errors(username: str) -> list[str]:
    try:
        get_user_model()._meta.get_field("username").run_validators(username)
    except ValidationError:
        return [ADMIN_USERNAME_INVALID]
    return [] if username else [ADMIN_USERNAME_INVALID]


def fleet_admin_create(*, username: str, email: str = "", password: str):
    """A user of the current provider who holds the fleet admin role: the admin and every
    page and endpoint are theirs (accounts/policy.py). Not a Django superuser: that flag
    is the platform admin's, in the public schema."""
    user = get_user_model().objects.create_user(username=username, email=email,
                                                password=password)
    RoleGrant.objects.create(user=user, role=Role.FLEET_ADMIN, organization=None, project=None)
    return user


def provider_onboard_errors(*, admin_username: str, clock_frozen_at: datetime | None = None,
                            **provider_fields) -> dict[str, list[str]]:
    """Why `provider_onboard` would refuse these, per field (empty: it would not)."""
    errors = provider_errors(**{k: v for k, v in provider_fields.items()
                                if k != "base_domain"})
    if username_errors := _admin_username_errors(admin_username):
        errors["admin_username"] = username_errors
    if clock_frozen_at is not None:
        if not provider_fields.get("sandbox"):
            errors["clock_frozen_at"] = [CLOCK_ONLY_FOR_SANDBOX]
        elif clock_frozen_at.tzinfo is None or clock_frozen_at.utcoffset() is None:
            errors["clock_frozen_at"] = [CLOCK_NEEDS_OFFSET]
    return errors


def provider_onboard(*, admin_username: str, admin_email: str = "",
                     admin_password: str | None = None, clock_frozen_at: datetime | None = None,
                     **provider_fields) -> ProviderOnboarded:
    """Create a provider (see `tenancy.services.provider_create` for its fields) and its
    first fleet admin; a sandbox also gets its test clock, frozen at `clock_frozen_at`
    (default: its creation). Every refusal names its field; nothing is left half made."""
    errors = provider_onboard_errors(admin_username=admin_username,
                                     clock_frozen_at=clock_frozen_at, **provider_fields)
    if errors:
        raise ValidationError(errors)
    password = admin_password or secrets.token_urlsafe(12)
    with transaction.atomic():
        created = provider_create(**provider_fields)
        with schema_context(created.provider.schema_name):
            fleet_admin_create(username=admin_username, email=admin_email, password=password)
            if created.provider.sandbox:
                frozen = clock_frozen_at or created.provider.created_at
                sandbox_clock_start(frozen_time=frozen)
                _sandbox_bills_from_its_clock(created.provider, frozen)
    return ProviderOnboarded(provider=created.provider, domain=created.domain,
                             admin_username=admin_username, admin_password=password)


def _sandbox_bills_from_its_clock(provider: Provider, frozen: datetime) -> None:
    """A sandbox was "created" when its clock says, not when real time says: unless set,
    its billing start is the billing month its clock is frozen in (a clock frozen in
    March bills March, whatever month it is outside)."""
    if provider.billing_start is None:
        provider.billing_start = month_containing(frozen, provider.billing_timezone).start
        provider.save(update_fields=["billing_start"])
