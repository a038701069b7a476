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
from cycles.guard import cycle_guard
from cycles.selectors import billing_period_containing, finalized_until

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
    when = effective_from or now
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError({"effective_from": ["give a timezone-aware instant"]})
    when = when.astimezone(UTC)
    if billing_account.organization_id != project.organization_id:
        raise ValidationError({"billing_account": [ACCOUNT_OTHER_ORG.format(
            account=billing_account.name, org=project.organization.name)]})
    cycle_guard(when, field="effective_from")
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


# ---------------------------------------------------------------------------
# Entitlements, feature grants and quota reservations
# ---------------------------------------------------------------------------

from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass as _dataclass  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.db import connection  # noqa: E402
from django.db.models import Q  # noqa: E402

from accounts.models import (  # noqa: E402
    Entitlement,
    EntitlementAction,
    EntitlementChange,
    FeatureGrant,
    QuotaCounter,
)
from catalog.models import Feature, FeatureKind, FeatureScope, OfferVersion  # noqa: E402
from catalog.services.offers import offer_version_mark_accepted  # noqa: E402
from core.errors import Conflict  # noqa: E402

OFFER_NOT_FOUND = "no offer {offer!r}"
OFFER_VERSION_NOT_FOUND = "offer {offer!r} has no version {number}"
OFFER_PRIVATE = "offer {offer!r} is private: a fleet admin accepts it for an account"
ALREADY_ENTITLED = (
    "billing account {account!r} already has an active entitlement to {offer!r} "
    "(since {since}): end it first to change version"
)
ENDED_AT_START = "an entitlement cannot end at the instant it starts"
REPLACED_BY = "replaced by {offer} (same service)"
QUANTITY_INVALID = "must be a decimal number greater than zero"
FEATURE_IS_FLAG = "{feature!r} is a flag: there is nothing to reserve"
RELEASE_TOO_MUCH = "cannot release {quantity}: only {used} of {feature!r} is reserved"

# Reasons a check gives (stable codes; the message says it in words).
ALLOWED = "allowed"
UNKNOWN_FEATURE = "unknown_feature"
NO_BILLING_ACCOUNT_NOW = "no_billing_account"
NOT_ENTITLED = "not_entitled"
QUOTA_EXCEEDED = "quota_exceeded"
REASON_TEXT = {
    ALLOWED: "allowed by the billing account's entitlement",
    UNKNOWN_FEATURE: "no feature {feature!r}",
    NO_BILLING_ACCOUNT_NOW: "project {project!r} bills to no billing account now",
    NOT_ENTITLED: "no active entitlement of the project's billing account enables {feature!r}",
    QUOTA_EXCEEDED: "{quantity} more would exceed the limit of {feature!r}",
}


def entitlement_accept(*, billing_account: BillingAccount, offer_key: str, now: datetime,
                       actor=None, version_number: int | None = None,
                       allow_private: bool = False) -> Entitlement:
    """The account accepts an offer (its latest version unless `version_number`):
    an entitlement active from `now`. An active entitlement sharing a service with
    it is ended at the same instant (a plan change). Its features and quotas are
    granted at once; the version is marked accepted and never changes again.
    """
    with transaction.atomic():
        # The account row serializes accepting and ending for one account.
        BillingAccount.objects.select_for_update().get(pk=billing_account.pk)
        versions = OfferVersion.objects.select_for_update(of=("self",)).select_related(
            "offer").filter(offer__key=offer_key).order_by("-number")
        if version_number is not None:
            versions = versions.filter(number=version_number)
        version = versions.first()
        if version is None:
            message = (OFFER_NOT_FOUND.format(offer=offer_key) if version_number is None
                       else OFFER_VERSION_NOT_FOUND.format(offer=offer_key,
                                                           number=version_number))
            raise ValidationError({"offer": [message]})
        if not version.offer.public and not allow_private:
            raise ValidationError({"offer": [OFFER_PRIVATE.format(offer=offer_key)]})
        active = list(
            Entitlement.objects.select_for_update(of=("self",))
            .filter(Q(end__isnull=True) | Q(end__gt=now), billing_account=billing_account)
            .select_related("offer_version__offer").prefetch_related("offer_version__services")
        )
        for entitlement in active:
            if entitlement.offer_version.offer_id == version.offer_id:
                raise Conflict({"offer": [ALREADY_ENTITLED.format(
                    account=billing_account.name, offer=offer_key,
                    since=entitlement.start.isoformat())]})
        services = set(version.services.values_list("pk", flat=True))
        for entitlement in active:
            shared = {s.pk for s in entitlement.offer_version.services.all()} & services
            if shared and entitlement.start < now:
                _end(entitlement, now=now, actor=actor,
                     note=REPLACED_BY.format(offer=version.offer.name))
        entitlement = Entitlement.objects.create(
            billing_account=billing_account, offer_version=version, start=now, created_by=actor
        )
        EntitlementChange.objects.create(entitlement=entitlement, action=EntitlementAction.ACCEPTED,
                                         at=now, actor=actor)
        offer_version_mark_accepted(version=version, now=now)
        _grants_sync(billing_account.pk, now=now)
    return entitlement


def _end(entitlement: Entitlement, *, now: datetime, actor, note: str = "") -> None:
    Entitlement.objects.filter(pk=entitlement.pk).update(end=now)
    entitlement.end = now
    EntitlementChange.objects.create(entitlement=entitlement, action=EntitlementAction.ENDED,
                                     at=now, actor=actor, note=note)


def entitlement_end(*, entitlement: Entitlement, now: datetime, actor=None) -> Entitlement:
    """End an entitlement at `now`, at once: recurring charges prorate to this instant and
    its features stop. Ending an ended entitlement changes nothing."""
    with transaction.atomic():
        BillingAccount.objects.select_for_update().get(pk=entitlement.billing_account_id)
        entitlement = Entitlement.objects.select_related("offer_version__offer").get(
            pk=entitlement.pk)
        if entitlement.end is not None and entitlement.end <= now:
            return entitlement
        if now <= entitlement.start:
            raise Conflict({"entitlement": [ENDED_AT_START]})
        _end(entitlement, now=now, actor=actor)
        _grants_sync(entitlement.billing_account_id, now=now)
    return entitlement


def _grants_sync(billing_account_id: int, *, now: datetime) -> None:
    """Make the account's feature grants say what its active entitlements enable."""
    wanted: dict[int, tuple[int, Decimal | None]] = {}
    active = Entitlement.objects.filter(
        Q(end__isnull=True) | Q(end__gt=now), billing_account_id=billing_account_id,
        start__lte=now,
    ).prefetch_related("offer_version__features__feature").order_by("start", "id")
    for entitlement in active:
        for granted in entitlement.offer_version.features.all():
            feature = granted.feature
            limit = None
            if feature.kind == FeatureKind.QUOTA:
                limit = granted.limit if granted.limit is not None else feature.default_limit
            wanted[feature.pk] = (entitlement.pk, limit)
    existing = {g.feature_id: g for g in FeatureGrant.objects.select_for_update().filter(
        billing_account_id=billing_account_id)}
    for feature_id, (entitlement_id, limit) in wanted.items():
        FeatureGrant.objects.update_or_create(
            billing_account_id=billing_account_id, feature_id=feature_id,
            defaults={"entitlement_id": entitlement_id, "enabled": True, "limit": limit,
                      "updated_at": now},
        )
    stale = [fid for fid in existing if fid not in wanted]
    if stale:
        FeatureGrant.objects.filter(billing_account_id=billing_account_id,
                                    feature_id__in=stale).update(
            enabled=False, entitlement=None, limit=Decimal(0), updated_at=now)


@_dataclass(frozen=True)
class QuotaAnswer:
    """What a check or a reservation answers: allowed or not, why, and what remains."""

    allowed: bool
    reason: str
    message: str
    project: str
    feature: str
    kind: str | None = None
    scope: str | None = None
    billing_account_id: int | None = None
    limit: Decimal | None = None
    used: Decimal | None = None
    remaining: Decimal | None = None
    reserved: Decimal | None = None


# {project} is the project's id: a parameter, or a column of an enclosing query.
_CHECK_SQL = """
    SELECT f.id, f.kind, f.scope, a.billing_account_id, g.enabled, g."limit",
           COALESCE(CASE WHEN f.scope = 'project' THEN cp.used ELSE ca.used END, 0)
    FROM {feature} f
    LEFT JOIN {assignment} a ON a.project_id = {project} AND a.valid_from <= %(now)s
         AND (a.valid_to IS NULL OR a.valid_to > %(now)s)
    LEFT JOIN {grant} g ON g.billing_account_id = a.billing_account_id AND g.feature_id = f.id
    LEFT JOIN {counter} ca ON ca.billing_account_id = a.billing_account_id
         AND ca.feature_id = f.id AND ca.project_id IS NULL
    LEFT JOIN {counter} cp ON cp.project_id = {project} AND cp.feature_id = f.id
         AND cp.billing_account_id IS NULL
    WHERE f.key = %(feature_key)s
"""

# The project found by name and the check, in one round trip; a project without the
# feature gives one row of NULLs after the project's columns.
_CHECK_NAMED_SQL = """
    SELECT p.id, p.organization_id, c.*
    FROM {project_table} p
    LEFT JOIN LATERAL ({check}) c ON true
    WHERE p.name = %(project_name)s
"""


def _tables() -> dict[str, str]:
    from accounts.models import ProjectAccountAssignment as Assignment

    return {"feature": Feature._meta.db_table, "assignment": Assignment._meta.db_table,
            "grant": FeatureGrant._meta.db_table, "counter": QuotaCounter._meta.db_table}


def _quantity(quantity, *, required: bool) -> Decimal | None:
    if quantity is None and not required:
        return None
    if isinstance(quantity, bool) or not isinstance(quantity, Decimal | int | str):
        raise ValidationError({"quantity": [QUANTITY_INVALID]})
    try:
        number = Decimal(quantity) if not isinstance(quantity, Decimal) else quantity
    except ArithmeticError:
        raise ValidationError({"quantity": [QUANTITY_INVALID]}) from None
    if not number.is_finite() or number <= 0:
        raise ValidationError({"quantity": [QUANTITY_INVALID]})
    return number


def _answer(project: Project, feature_key: str, row, quantity: Decimal | None,
            reserved: Decimal | None = None, reason: str | None = None) -> QuotaAnswer:
    common = {"project": project.name, "feature": feature_key}
    if row is None:
        return QuotaAnswer(allowed=False, reason=UNKNOWN_FEATURE, **common,
                           message=REASON_TEXT[UNKNOWN_FEATURE].format(feature=feature_key))
    _, kind, scope, account_id, enabled, limit, used = row
    common.update(kind=kind, scope=scope, billing_account_id=account_id)
    if account_id is None:
        return QuotaAnswer(allowed=False, reason=NO_BILLING_ACCOUNT_NOW, **common,
                           message=REASON_TEXT[NO_BILLING_ACCOUNT_NOW].format(
                               project=project.name))
    if not enabled:
        return QuotaAnswer(allowed=False, reason=NOT_ENTITLED, **common,
                           message=REASON_TEXT[NOT_ENTITLED].format(feature=feature_key))
    if kind == FeatureKind.FLAG:
        return QuotaAnswer(allowed=True, reason=ALLOWED, message=REASON_TEXT[ALLOWED], **common)
    remaining = None if limit is None else max(limit - used, Decimal(0))
    wanted = quantity if quantity is not None else Decimal(1)
    allowed = reason != QUOTA_EXCEEDED and (remaining is None or wanted <= remaining)
    code = ALLOWED if allowed else QUOTA_EXCEEDED
    return QuotaAnswer(
        allowed=allowed, reason=code, **common,
        message=REASON_TEXT[code].format(feature=feature_key, quantity=wanted),
        limit=limit, used=used, remaining=remaining, reserved=reserved,
    )


def _read(project: Project, feature_key: str, now: datetime):
    with connection.cursor() as cursor:
        cursor.execute(_CHECK_SQL.format(project="%(project)s", **_tables()),
                       {"project": project.pk, "now": now, "feature_key": feature_key})
        return cursor.fetchone()


def quota_check(*, project: Project, feature_key: str, now: datetime,
                quantity=None) -> QuotaAnswer:
    """May `project` use `feature_key` (and `quantity` more of a quota) now? One query,
    no usage scan: the account's feature grant and the counter row."""
    quantity = _quantity(quantity, required=False)
    return _answer(project, feature_key, _read(project, feature_key, now), quantity)


def quota_check_named(*, project_name: str, feature_key: str, now: datetime,
                      visible: Callable[[Project], bool], quantity=None) -> QuotaAnswer | None:
    """quota_check for the project called `project_name`, found in the same query:
    the entitlement check is the hottest call there is, and this saves it a round
    trip. None when no such project exists or `visible` says the caller may not see
    it (the API answers 404 either way)."""
    quantity = _quantity(quantity, required=False)
    check = _CHECK_SQL.format(project="p.id", **_tables())
    with connection.cursor() as cursor:
        cursor.execute(
            _CHECK_NAMED_SQL.format(project_table=Project._meta.db_table, check=check),
            {"project_name": project_name, "now": now, "feature_key": feature_key})
        row = cursor.fetchone()
    if row is None:
        return None
    project = Project(id=row[0], name=project_name, organization_id=row[1])
    if not visible(project):
        return None
    found = row[2:] if row[2] is not None else None  # the feature's id is never NULL
    return _answer(project, feature_key, found, quantity)


def quota_reserve(*, project: Project, feature_key: str, quantity, now: datetime
                  ) -> QuotaAnswer:
    """Reserve `quantity` of a quota for `project`, atomically: one conditional UPDATE
    (`used + n <= limit`) on the counter row, so concurrent reservations serialize on
    the row and never exceed the limit. Not allowed: nothing is reserved."""
    quantity = _quantity(quantity, required=True)
    tables = _tables()
    with transaction.atomic():
        row = _read(project, feature_key, now)
        answer = _answer(project, feature_key, row, quantity)
        if row is not None and row[1] == FeatureKind.FLAG and row[4]:
            raise ValidationError({"feature": [FEATURE_IS_FLAG.format(feature=feature_key)]})
        if not answer.allowed:
            return answer
        feature_id, _, scope, account_id = row[:4]
        column, scope_id, other = (
            ("project_id", project.pk, "billing_account_id") if scope == FeatureScope.PROJECT
            else ("billing_account_id", account_id, "project_id"))
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {tables['counter']} ({column}, feature_id, used, updated_at)
                    VALUES (%s, %s, 0, %s)
                    ON CONFLICT ({column}, feature_id) WHERE {other} IS NULL DO NOTHING""",
                [scope_id, feature_id, now])
            cursor.execute(
                f"""UPDATE {tables['counter']} c SET used = c.used + %(n)s, updated_at = %(now)s
                    FROM {tables['grant']} g
                    WHERE c.{column} = %(scope)s AND c.feature_id = %(feature)s
                      AND c.{other} IS NULL
                      AND g.billing_account_id = %(account)s AND g.feature_id = %(feature)s
                      AND g.enabled AND (g."limit" IS NULL OR c.used + %(n)s <= g."limit")
                    RETURNING c.used""",
                {"n": quantity, "now": now, "scope": scope_id, "feature": feature_id,
                 "account": account_id})
            updated = cursor.fetchone()
        if updated is None:
            # Another reservation took what was left (or the grant changed) meanwhile.
            return _answer(project, feature_key, _read(project, feature_key, now), quantity,
                           reason=QUOTA_EXCEEDED)
        row = (*row[:6], updated[0])
        after = _answer(project, feature_key, row, None, reserved=quantity)
        return QuotaAnswer(**{**after.__dict__, "allowed": True, "reason": ALLOWED,
                              "message": REASON_TEXT[ALLOWED]})


def quota_release(*, project: Project, feature_key: str, quantity, now: datetime
                  ) -> QuotaAnswer:
    """Give back `quantity` of a reserved quota (a zone deleted); never below zero."""
    quantity = _quantity(quantity, required=True)
    tables = _tables()
    with transaction.atomic():
        row = _read(project, feature_key, now)
        if row is None:
            raise ValidationError({"feature": [REASON_TEXT[UNKNOWN_FEATURE].format(
                feature=feature_key)]})
        feature_id, kind, scope, account_id = row[:4]
        if kind == FeatureKind.FLAG:
            raise ValidationError({"feature": [FEATURE_IS_FLAG.format(feature=feature_key)]})
        column, scope_id, other = (
            ("project_id", project.pk, "billing_account_id") if scope == FeatureScope.PROJECT
            else ("billing_account_id", account_id, "project_id"))
        with connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE {tables['counter']} SET used = used - %(n)s, updated_at = %(now)s
                    WHERE {column} = %(scope)s AND feature_id = %(feature)s
                      AND {other} IS NULL AND used >= %(n)s
                    RETURNING used""",
                {"n": quantity, "now": now, "scope": scope_id, "feature": feature_id})
            updated = cursor.fetchone()
        if updated is None:
            raise Conflict({"quantity": [RELEASE_TOO_MUCH.format(
                quantity=quantity, used=row[6], feature=feature_key)]})
        return _answer(project, feature_key, (*row[:6], updated[0]), None)


QUOTA_UNKNOWN_TYPE = "no resource type {key!r} in the catalog"
QUOTA_UNKNOWN_VARIANT = "resource type {metric!r} has no variant {key!r}"
QUOTA_UNKNOWN_REGION = "no region {key!r} in the catalog"
QUOTA_BAD_CLASS = "service class must be standard or spot"


def project_quota_set(*, project: Project, resource_type: str, variant: str, region: str,
                      service_class: str = "standard", allocated: int, actor, now: datetime):
    """Allocate capacity to a project (an operator's decision); 0 keeps the row at zero."""
    from accounts.models import ProjectQuota
    from catalog.models import Aggregation, Metric, Region, ServiceClass, Variant

    errors: dict[str, list[str]] = {}
    metric = Metric.objects.filter(key=resource_type, aggregation=Aggregation.DURATION).first()
    if metric is None:
        errors["resource_type"] = [QUOTA_UNKNOWN_TYPE.format(key=resource_type)]
    elif not Variant.objects.filter(metric=metric, key=variant).exists():
        errors["variant"] = [QUOTA_UNKNOWN_VARIANT.format(metric=resource_type, key=variant)]
    if not Region.objects.filter(key=region).exists():
        errors["region"] = [QUOTA_UNKNOWN_REGION.format(key=region)]
    if service_class not in ServiceClass.values:
        errors["service_class"] = [QUOTA_BAD_CLASS]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        quota, _ = ProjectQuota.objects.update_or_create(
            project=project, metric=metric, variant=variant, region=region,
            service_class=service_class,
            defaults={"allocated": allocated, "updated_by": actor, "updated_at": now},
        )
    return quota
