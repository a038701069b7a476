"""Organizations, their billing accounts and the accounts' billing contacts: the checks
(admin forms run them without writing) and the writes."""

import re
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.access import access_for
from accounts.models import (
    BillingAccount,
    BillingContact,
    Organization,
    PaymentKind,
    Role,
    RoleGrant,
)
from audit.context import records_actor
from cycles.guard import cycle_guard

NAME_INVALID = "use lowercase letters, digits and '-' (start with a letter or digit)"
NAME_TAKEN = "an organization named {name!r} already exists"
DISPLAY_NAME_REQUIRED = "give the organization a display name"
ACCOUNT_NAME_REQUIRED = "give the billing account a name"
ACCOUNT_NAME_TAKEN = "this organization already has a billing account named {name!r}"
PAYMENT_KIND_INVALID = "payment kind must be one of: {kinds}"
CONTACT_INVALID = "{email!r} is not a valid email address"
CREATED_IN_FUTURE = "{when} is later than now ({now}): date a creation when it happened"

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


def check_name(name: str, field: str = "name") -> str:
    """The rule for organization and project names (both appear in API paths)."""
    name = (name or "").strip()
    if not _NAME.fullmatch(name):
        raise ValidationError({field: [NAME_INVALID]})
    return name


def _check_payment_kind(payment_kind: str) -> str:
    if payment_kind not in PaymentKind.values:
        kinds = ", ".join(PaymentKind.values)
        raise ValidationError({"payment_kind": [PAYMENT_KIND_INVALID.format(kinds=kinds)]})
    return payment_kind


def _normalize_email(email: str, field: str = "contacts") -> str:
    # Lowercased whole: mail systems treat addresses case-insensitively in
    # practice, and one spelling per person keeps the unique constraint meaningful.
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({field: [CONTACT_INVALID.format(email=email)]}) from None
    return email


def organization_check(*, name: str, display_name: str, billing_account_name: str | None = "",
                       payment_kind: str = PaymentKind.CHARGEBACK) -> tuple[str, str]:
    """The checks of `organization_create`, without writing (admin forms use them)."""
    name = check_name(name)
    display_name = (display_name or "").strip()
    errors: dict[str, list[str]] = {}
    if not display_name:
        errors["display_name"] = [DISPLAY_NAME_REQUIRED]
    if Organization.objects.filter(name=name).exists():
        errors["name"] = [NAME_TAKEN.format(name=name)]
    if billing_account_name is not None and billing_account_name.strip():
        _check_payment_kind(payment_kind)
    if errors:
        raise ValidationError(errors)
    return name, display_name


@records_actor()
def organization_create(*, name: str, display_name: str, actor, now: datetime,
                        billing_account_name: str | None = "Main",
                        payment_kind: str = PaymentKind.CHARGEBACK,
                        created_at: datetime | None = None) -> Organization:
    """Create an organization and, when `billing_account_name` is given, its first
    (default) billing account. A creator who is not a fleet admin becomes its org admin.
    `created_at` dates it in the past (a history import); it defaults to now."""
    name, display_name = organization_check(
        name=name, display_name=display_name, billing_account_name=billing_account_name,
        payment_kind=payment_kind,
    )
    created_at = creation_instant(created_at, now=now)
    with transaction.atomic():
        try:
            with transaction.atomic():
                organization = Organization.objects.create(
                    name=name, display_name=display_name, created_at=created_at)
        except IntegrityError:  # a concurrent create took the name
            raise ValidationError({"name": [NAME_TAKEN.format(name=name)]}) from None
        if billing_account_name is not None and billing_account_name.strip():
            billing_account_create(
                organization=organization, name=billing_account_name,
                payment_kind=payment_kind, contacts=[], actor=actor, now=now,
                created_at=created_at,
            )
        if actor is not None and not _is_fleet_admin(actor):
            RoleGrant.objects.get_or_create(
                user=actor, role=Role.ORG_ADMIN, organization=organization, project=None,
                defaults={"granted_by": actor},
            )
    return organization


def organization_update(*, organization: Organization, display_name: str, actor,
                        now: datetime) -> Organization:
    """Rename what people read; the `name` the API uses never changes."""
    display_name = (display_name or "").strip()
    if not display_name:
        raise ValidationError({"display_name": [DISPLAY_NAME_REQUIRED]})
    with transaction.atomic():
        Organization.objects.filter(pk=organization.pk).update(display_name=display_name)
    organization.display_name = display_name
    return organization


def creation_instant(created_at: datetime | None, *, now: datetime) -> datetime:
    """When a creation is dated: now, or a past instant in an open cycle (the calendar's
    guard refuses a finalized cycle or a date before the billing start)."""
    if created_at is None:
        return now
    if created_at > now:
        raise ValidationError({"created_at": [CREATED_IN_FUTURE.format(
            when=created_at.isoformat(), now=now.isoformat())]})
    cycle_guard(created_at, field="created_at")
    return created_at


def _is_fleet_admin(user) -> bool:
    return access_for(user).fleet_admin


def billing_account_check(*, organization: Organization, name: str, payment_kind: str,
                          contacts: list[str] | None = None) -> tuple[str, list[str]]:
    """The checks of `billing_account_create`, without writing."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [ACCOUNT_NAME_REQUIRED]})
    _check_payment_kind(payment_kind)
    emails: list[str] = []
    for email in contacts or []:
        email = _normalize_email(email)
        if email not in emails:
            emails.append(email)
    if BillingAccount.objects.filter(organization=organization, name=name).exists():
        raise ValidationError({"name": [ACCOUNT_NAME_TAKEN.format(name=name)]})
    return name, emails


@records_actor()
def billing_account_create(*, organization: Organization, name: str, payment_kind: str,
                           contacts: list[str], actor, now: datetime,
                           created_at: datetime | None = None) -> BillingAccount:
    """Add a billing account; an organization's first one becomes its default."""
    name, emails = billing_account_check(
        organization=organization, name=name, payment_kind=payment_kind, contacts=contacts
    )
    created_at = creation_instant(created_at, now=now)
    with transaction.atomic():
        # The organization row serializes account creation and default swaps, so
        # two concurrent "first" accounts cannot both become the default.
        Organization.objects.select_for_update().get(pk=organization.pk)
        is_first = not BillingAccount.objects.filter(organization=organization).exists()
        try:
            with transaction.atomic():
                account = BillingAccount.objects.create(
                    organization=organization, name=name, payment_kind=payment_kind,
                    is_default=is_first, created_at=created_at,
                )
        except IntegrityError:
            raise ValidationError({"name": [ACCOUNT_NAME_TAKEN.format(name=name)]}) from None
        BillingContact.objects.bulk_create(
            [BillingContact(billing_account=account, email=email) for email in emails]
        )
    return account


@records_actor()
def billing_account_update(*, billing_account: BillingAccount, name: str, payment_kind: str,
                           actor=None, now: datetime | None = None) -> BillingAccount:
    """Rename an account or change how it pays; invoices already finalized keep
    the name they were issued with (they snapshot it)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [ACCOUNT_NAME_REQUIRED]})
    _check_payment_kind(payment_kind)
    with transaction.atomic():
        taken = BillingAccount.objects.filter(
            organization_id=billing_account.organization_id, name=name
        ).exclude(pk=billing_account.pk).exists()
        if taken:
            raise ValidationError({"name": [ACCOUNT_NAME_TAKEN.format(name=name)]})
        BillingAccount.objects.filter(pk=billing_account.pk).update(
            name=name, payment_kind=payment_kind
        )
    billing_account.name, billing_account.payment_kind = name, payment_kind
    return billing_account


@records_actor()
def billing_account_set_default(*, billing_account: BillingAccount, actor=None,
                                now: datetime | None = None) -> BillingAccount:
    """Make this account its organization's default; new projects bill to it.

    Projects already billing elsewhere stay where they are. Two statements, in
    this order, under the organization's lock: clear the old default, then set
    the new one. PostgreSQL checks a unique index row by row, so a single UPDATE
    flipping both rows could see two defaults mid-statement; this order never does.
    """
    with transaction.atomic():
        Organization.objects.select_for_update().get(pk=billing_account.organization_id)
        BillingAccount.objects.filter(
            organization_id=billing_account.organization_id, is_default=True
        ).exclude(pk=billing_account.pk).update(is_default=False)
        BillingAccount.objects.filter(pk=billing_account.pk).update(is_default=True)
    billing_account.is_default = True
    return billing_account


def billing_contact_add(*, billing_account: BillingAccount, email: str, name: str = "",
                        actor=None, now: datetime | None = None) -> BillingContact:
    """Add who receives the account's invoices; adding an address twice is a no-op
    (a new non-empty name replaces the old one)."""
    email = _normalize_email(email, field="email")
    name = (name or "").strip()
    with transaction.atomic():
        contact, created = BillingContact.objects.get_or_create(
            billing_account=billing_account, email=email, defaults={"name": name}
        )
        if not created and name and contact.name != name:
            contact.name = name
            contact.save(update_fields=["name"])
    return contact


def billing_contact_remove(*, billing_account: BillingAccount, email: str, actor=None,
                           now: datetime | None = None) -> bool:
    """Remove a contact; True if there was one to remove."""
    email = (email or "").strip().lower()
    with transaction.atomic():
        deleted, _ = BillingContact.objects.filter(
            billing_account=billing_account, email=email
        ).delete()
    return bool(deleted)
