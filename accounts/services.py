"""Writes for accounts: API keys, organizations, billing accounts, projects and roles."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import Http404

from accounts.access import access_for, visible_organizations
from accounts.models import (
    FLEET_ROLES,
    ORG_ROLES,
    ApiKey,
    BillingAccount,
    BillingContact,
    Organization,
    PaymentKind,
    Project,
    ProjectAccountAssignment,
    Role,
    RoleGrant,
)

KEY_PREFIX = "tly"
USER_NOT_FOUND = "no user {username!r} in this provider"
USER_INACTIVE = "user {username!r} is inactive"
NAME_REQUIRED = "an API key needs a name (what will use it?)"


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str  # the only time the full key exists outside its holder


def hash_api_key(secret: str) -> str:
    # Keys are 256-bit random: a fast hash is enough, no salt or stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(secret: str) -> tuple[str, str] | None:
    parts = secret.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def api_key_issue(*, username: str, name: str) -> IssuedApiKey:
    """Issue a key for a user of the current provider; the secret is returned once."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [NAME_REQUIRED]})
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"user": [USER_NOT_FOUND.format(username=username)]})
    if not user.is_active:
        raise ValidationError({"user": [USER_INACTIVE.format(username=username)]})
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32).replace('_', '-')}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            user=user, name=name, prefix=prefix, key_hash=hash_api_key(secret)
        )
    return IssuedApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey, now: datetime) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)


# ---------------------------------------------------------------------------
# Organizations, billing accounts, projects and roles
# ---------------------------------------------------------------------------

NAME_INVALID = "use lowercase letters, digits and '-' (start with a letter or digit)"
NAME_TAKEN = "an organization named {name!r} already exists"
DISPLAY_NAME_REQUIRED = "give the organization a display name"
ACCOUNT_NAME_REQUIRED = "give the billing account a name"
ACCOUNT_NAME_TAKEN = "this organization already has a billing account named {name!r}"
PAYMENT_KIND_INVALID = "payment kind must be one of: {kinds}"
CONTACT_INVALID = "{email!r} is not a valid email address"
PROJECT_NAME_TAKEN = "a project named {name!r} already exists"
NO_BILLING_ACCOUNT = (
    "organization {name!r} has no billing account yet: create a billing account first"
)
ACCOUNT_OTHER_ORG = "billing account {account!r} does not belong to organization {org!r}"
MOVE_SAME_ACCOUNT = "the project already bills to {account!r} from that instant"
MOVE_BEFORE_CURRENT = (
    "{when} is before {since}, when the project's current billing account took effect"
)
MOVE_BEFORE_FINALIZED = (
    "{when} is before {until}, the end of the last finalized billing cycle: "
    "its invoices never change"
)
ROLE_SCOPE_FLEET = "a fleet role is granted fleet-wide: give neither organization nor project"
ROLE_SCOPE_ORG = "an organization role needs an organization (and no project)"
ROLE_SCOPE_PROJECT = "a project role needs a project (and no organization)"
GRANT_REFUSED = "you may not grant or revoke {role} here"

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


class GrantRefused(PermissionDenied):
    """The caller sees the scope but may not grant (or revoke) this role on it: 403."""


class ScopeNotFound(Http404):
    """The caller cannot even see the scope of the grant: 404, as if it did not exist."""


def _check_name(name: str, field: str = "name") -> str:
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
    name = _check_name(name)
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


def organization_create(*, name: str, display_name: str, actor, now: datetime,
                        billing_account_name: str | None = "Main",
                        payment_kind: str = PaymentKind.CHARGEBACK) -> Organization:
    """Create an organization and, when `billing_account_name` is given, its first
    (default) billing account. A creator who is not a fleet admin becomes its org admin."""
    name, display_name = organization_check(
        name=name, display_name=display_name, billing_account_name=billing_account_name,
        payment_kind=payment_kind,
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                organization = Organization.objects.create(name=name, display_name=display_name)
        except IntegrityError:  # a concurrent create took the name
            raise ValidationError({"name": [NAME_TAKEN.format(name=name)]}) from None
        if billing_account_name is not None and billing_account_name.strip():
            billing_account_create(
                organization=organization, name=billing_account_name,
                payment_kind=payment_kind, contacts=[], actor=actor, now=now,
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


def billing_account_create(*, organization: Organization, name: str, payment_kind: str,
                           contacts: list[str], actor, now: datetime) -> BillingAccount:
    """Add a billing account; an organization's first one becomes its default."""
    name, emails = billing_account_check(
        organization=organization, name=name, payment_kind=payment_kind, contacts=contacts
    )
    with transaction.atomic():
        # The organization row serializes account creation and default swaps, so
        # two concurrent "first" accounts cannot both become the default.
        Organization.objects.select_for_update().get(pk=organization.pk)
        is_first = not BillingAccount.objects.filter(organization=organization).exists()
        try:
            with transaction.atomic():
                account = BillingAccount.objects.create(
                    organization=organization, name=name, payment_kind=payment_kind,
                    is_default=is_first,
                )
        except IntegrityError:
            raise ValidationError({"name": [ACCOUNT_NAME_TAKEN.format(name=name)]}) from None
        BillingContact.objects.bulk_create(
            [BillingContact(billing_account=account, email=email) for email in emails]
        )
    return account


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


def project_check(*, name: str, organization: Organization,
                  billing_account: BillingAccount | None = None) -> tuple[str, BillingAccount]:
    """The checks of `project_create`, without writing: the name and the account it bills to."""
    name = _check_name(name)
    if Project.objects.filter(name=name).exists():
        raise ValidationError({"name": [PROJECT_NAME_TAKEN.format(name=name)]})
    if billing_account is not None:
        if billing_account.organization_id != organization.pk:
            raise ValidationError({"billing_account": [ACCOUNT_OTHER_ORG.format(
                account=billing_account.name, org=organization.name)]})
        return name, billing_account
    default = BillingAccount.objects.filter(organization=organization, is_default=True).first()
    if default is None:
        raise ValidationError(
            {"organization": [NO_BILLING_ACCOUNT.format(name=organization.name)]}
        )
    return name, default


def project_create(*, name: str, organization: Organization, actor, now: datetime,
                   billing_account: BillingAccount | None = None) -> Project:
    """Create a project billing to the organization's default account (or the given one).

    The first assignment starts at the beginning of the billing period that
    contains `now`, not at `now`: usage often carries timestamps from before
    the project was registered here (telemetry that arrives late, resources
    imported with their history), and every instant of the current cycle must
    bill to some account. That period is still open, so no finalized invoice
    can change; if cycles were closed ahead of time, the assignment starts at
    the end of the last finalized one instead.

    The creator holds the project billing viewer role on it (PRODUCT: a
    project's creator sees its spend and may grant that to others), even if
    they already see it as an org admin, so it survives a change of their org role.
    """
    from invoicing.selectors import billing_period_containing, finalized_until

    name, account = project_check(
        name=name, organization=organization, billing_account=billing_account
    )
    valid_from = billing_period_containing(now).start
    with transaction.atomic():
        until = finalized_until()
        if until is not None and until > valid_from:
            valid_from = until
        try:
            with transaction.atomic():
                project = Project.objects.create(
                    name=name, organization=organization, created_by=actor
                )
        except IntegrityError:
            raise ValidationError({"name": [PROJECT_NAME_TAKEN.format(name=name)]}) from None
        ProjectAccountAssignment.objects.create(
            project=project, billing_account=account, valid_from=valid_from, created_by=actor
        )
        if actor is not None:
            RoleGrant.objects.get_or_create(
                user=actor, role=Role.PROJECT_BILLING_VIEWER, organization=None,
                project=project, defaults={"granted_by": actor},
            )
    return project


@dataclass(frozen=True)
class _MovePlan:
    effective_from: datetime
    delete_ids: tuple[int, ...]  # rows replaced: they start at or after the instant
    close: ProjectAccountAssignment | None  # the row in force at the instant: ends there
    reopen: ProjectAccountAssignment | None  # a row of the target account made open-ended


def _move_plan(*, project: Project, billing_account: BillingAccount,
               effective_from: datetime | None, now: datetime) -> _MovePlan:
    from invoicing.selectors import FINALIZED_CYCLE, finalized_cycle_label_at, finalized_until

    when = effective_from or now
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError({"effective_from": ["give a timezone-aware instant"]})
    when = when.astimezone(UTC)
    if billing_account.organization_id != project.organization_id:
        raise ValidationError({"billing_account": [ACCOUNT_OTHER_ORG.format(
            account=billing_account.name, org=project.organization.name)]})
    until = finalized_until()
    if until is not None and when < until:
        label = finalized_cycle_label_at(when)
        message = (
            FINALIZED_CYCLE.format(when=when.isoformat(), label=label) if label
            else MOVE_BEFORE_FINALIZED.format(when=when.isoformat(), until=until.isoformat())
        )
        raise ValidationError({"effective_from": [message]})
    rows = list(ProjectAccountAssignment.objects.filter(project=project).order_by("valid_from"))

    def in_force_at(t: datetime) -> ProjectAccountAssignment | None:
        return next(
            (r for r in rows if r.valid_from <= t and (r.valid_to is None or t < r.valid_to)),
            None,
        )

    current = in_force_at(now)
    if current is not None and when < current.valid_from:
        raise ValidationError({"effective_from": [MOVE_BEFORE_CURRENT.format(
            when=when.isoformat(), since=current.valid_from.isoformat())]})
    at_when = in_force_at(when)
    if at_when is not None and at_when.billing_account_id == billing_account.pk:
        later = tuple(r.pk for r in rows if r.valid_from > when)
        if not later and at_when.valid_to is None:
            raise ValidationError({"billing_account": [
                MOVE_SAME_ACCOUNT.format(account=billing_account.name)]})
        # Moving to the account already in force cancels what was scheduled after it.
        return _MovePlan(effective_from=when, delete_ids=later, close=None, reopen=at_when)
    delete_ids = tuple(r.pk for r in rows if r.valid_from >= when)
    close = at_when if at_when is not None and at_when.valid_from < when else None
    # A row of the target account ending exactly at the instant is extended, not
    # followed by a twin: [a, t) + [t, ...) on one account is just [a, ...).
    touching = next(
        (r for r in rows if r.valid_to == when and r.billing_account_id == billing_account.pk),
        None,
    )
    return _MovePlan(effective_from=when, delete_ids=delete_ids, close=close, reopen=touching)


def project_move_check(*, project: Project, billing_account: BillingAccount,
                       effective_from: datetime | None, now: datetime) -> None:
    """The checks of `project_move`, without writing (admin forms use them)."""
    _move_plan(project=project, billing_account=billing_account,
               effective_from=effective_from, now=now)


def project_move(*, project: Project, billing_account: BillingAccount,
                 effective_from: datetime | None, actor, now: datetime
                 ) -> ProjectAccountAssignment:
    """Bill the project to another account of its organization from `effective_from`
    (default `now`); usage splits exactly at that instant. Returns the row that
    bills to `billing_account` from the instant.

    The row in force at the instant is closed there and a new open row starts
    there. Rows starting at or after the instant (a scheduled move) are replaced:
    the instant is after the finalized boundary, so they never billed a
    finalized cycle. Moving to the account already in force at the instant only
    makes sense to cancel a scheduled move; otherwise it is refused.
    Refused: another organization's account, an instant inside a finalized
    cycle, an instant before the assignment in force now began.
    """
    with transaction.atomic():
        # The project row serializes moves of one project; rows are read after the lock.
        project = Project.objects.select_for_update().select_related("organization").get(
            pk=project.pk
        )
        plan = _move_plan(project=project, billing_account=billing_account,
                          effective_from=effective_from, now=now)
        assignments = ProjectAccountAssignment.objects
        if plan.delete_ids:
            assignments.filter(pk__in=plan.delete_ids).delete()
        if plan.close is not None:
            assignments.filter(pk=plan.close.pk).update(valid_to=plan.effective_from)
        if plan.reopen is not None:
            assignments.filter(pk=plan.reopen.pk).update(valid_to=None)
            plan.reopen.valid_to = None
            return plan.reopen
        return assignments.create(
            project=project, billing_account=billing_account,
            valid_from=plan.effective_from, created_by=actor,
        )


def _check_role_scope(*, role: str, organization: Organization | None,
                      project: Project | None) -> None:
    if role not in Role.values:
        raise ValidationError({"role": [f"unknown role {role!r}"]})
    if role in FLEET_ROLES and (organization is not None or project is not None):
        raise ValidationError({"role": [ROLE_SCOPE_FLEET]})
    if role in ORG_ROLES and (organization is None or project is not None):
        raise ValidationError({"organization": [ROLE_SCOPE_ORG]})
    if role == Role.PROJECT_BILLING_VIEWER and (project is None or organization is not None):
        raise ValidationError({"project": [ROLE_SCOPE_PROJECT]})


def _check_may_manage_grant(*, access, role: str, organization: Organization | None,
                            project: Project | None, grant: RoleGrant | None = None) -> None:
    """Who may grant (and revoke) what:

    - a fleet admin: anything;
    - an org admin: organization roles on their organization, and project
      billing viewer on its projects;
    - a project billing viewer: project billing viewer on that project (the
      seed: a project's creator grants viewing to others). When revoking, only
      the grants they made themselves, or their own.

    A caller who cannot see the scope gets ScopeNotFound (404); one who sees it
    but may not do this gets GrantRefused (403).
    """
    if access.fleet_admin:
        return
    refused = GrantRefused(GRANT_REFUSED.format(role=Role(role).label))
    if role in FLEET_ROLES:
        raise refused
    if project is not None:
        if not access.can_view_project(project):
            raise ScopeNotFound()
        if access.can_manage_org(project.organization_id):
            return
        if project.pk in access.viewer_project_ids and (
            grant is None or grant.granted_by_id == access.user_id
            or grant.user_id == access.user_id
        ):
            return
        raise refused
    if organization is not None:
        if not access.can_view_org(organization.pk) and not visible_organizations(
            access
        ).filter(pk=organization.pk).exists():
            raise ScopeNotFound()
        if access.can_manage_org(organization.pk):
            return
        raise refused


def role_grant_check(*, role: str, organization: Organization | None = None,
                     project: Project | None = None, access) -> None:
    """The checks of `role_grant`, without writing."""
    _check_role_scope(role=role, organization=organization, project=project)
    _check_may_manage_grant(access=access, role=role, organization=organization, project=project)


def role_grant(*, user, role: str, organization: Organization | None = None,
               project: Project | None = None, granted_by, access) -> RoleGrant:
    """Give `user` a role on a scope, if `access` (the granter's) allows it.
    Granting what is already held is a no-op that returns the existing grant."""
    role_grant_check(role=role, organization=organization, project=project, access=access)
    scope = {"user": user, "role": role, "organization": organization, "project": project}
    with transaction.atomic():
        existing = RoleGrant.objects.filter(**scope).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                return RoleGrant.objects.create(**scope, granted_by=granted_by)
        except IntegrityError:  # a concurrent identical grant won
            return RoleGrant.objects.get(**scope)


def role_revoke(*, user, role: str, organization: Organization | None = None,
                project: Project | None = None, revoked_by, access) -> bool:
    """Take a role away; True if there was a grant to remove (revoking twice is a no-op)."""
    _check_role_scope(role=role, organization=organization, project=project)
    scope = {"user": user, "role": role, "organization": organization, "project": project}
    with transaction.atomic():
        grant = RoleGrant.objects.select_for_update().filter(**scope).first()
        _check_may_manage_grant(access=access, role=role, organization=organization,
                                project=project, grant=grant)
        if grant is None:
            return False
        grant.delete()
    return True
