"""Reads for accounts."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from accounts.access import Access, visible_organizations, visible_projects
from accounts.models import (
    ApiKey,
    BillingAccount,
    Entitlement,
    Organization,
    Project,
    ProjectAccountAssignment,
    Role,
    RoleGrant,
)
from core.db import row_get
from core.periods import Period


def api_key_list_for_user(*, user) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


def _with_default_account(queryset: QuerySet[Organization]) -> QuerySet[Organization]:
    # `default_accounts`: a list of zero or one account, fetched for all rows in one query.
    return queryset.prefetch_related(
        Prefetch(
            "billing_accounts",
            queryset=BillingAccount.objects.filter(is_default=True),
            to_attr="default_accounts",
        )
    )


def organization_list(*, access: Access) -> QuerySet[Organization]:
    """Organizations the caller may see, each with `default_accounts` prefetched."""
    return _with_default_account(visible_organizations(access).order_by("name"))


def organization_get(*, access: Access, name: str) -> Organization:
    """One visible organization by name; Http404 outside the caller's scope."""
    organization = organization_list(access=access).filter(name=name).first()
    if organization is None:
        raise Http404(f"no organization {name!r}")
    return organization


def _in_force_at(at: datetime) -> Q:
    return Q(valid_from__lte=at) & (Q(valid_to__isnull=True) | Q(valid_to__gt=at))


def _with_accounts(queryset: QuerySet[Project], *, at: datetime | None,
                   history: bool) -> QuerySet[Project]:
    queryset = queryset.select_related("organization", "created_by")
    if at is not None:
        # `current_assignments`: the row in force at `at` (zero or one).
        queryset = queryset.prefetch_related(Prefetch(
            "assignments",
            queryset=ProjectAccountAssignment.objects.filter(_in_force_at(at))
            .select_related("billing_account"),
            to_attr="current_assignments",
        ))
    if history:
        queryset = queryset.prefetch_related(Prefetch(
            "assignments",
            queryset=ProjectAccountAssignment.objects.select_related("billing_account")
            .order_by("valid_from"),
            to_attr="assignment_history",
        ))
    return queryset


def project_list(*, access: Access, organization: Organization | None = None,
                 at: datetime | None = None) -> QuerySet[Project]:
    """Projects the caller may see, optionally of one organization. With `at`, each
    carries `current_assignments` (the account it bills to at `at`) prefetched."""
    queryset = visible_projects(access)
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    return _with_accounts(queryset.order_by("name"), at=at, history=False)


def project_get(*, access: Access, name: str, at: datetime | None = None) -> Project:
    """One visible project by name, with `assignment_history` (and `current_assignments`
    with `at`); Http404 outside the caller's scope."""
    queryset = _with_accounts(visible_projects(access).filter(name=name), at=at, history=True)
    project = queryset.first()
    if project is None:
        raise Http404(f"no project {name!r}")
    return project


def project_visible_named(*, access: Access, name: str) -> Project | None:
    """The project called `name` if the caller may see it (the same rule as
    visible_projects), as one indexed read without the ORM's compiler: quota
    checks call this on every request."""
    project = row_get(Project, "name", name)
    return project if project is not None and access.can_view_project(project) else None


def billing_account_list(*, access: Access, organization: Organization
                         ) -> QuerySet[BillingAccount]:
    """The organization's billing accounts with their contacts; Http404 unless the
    caller may see the organization's billing (fleet roles, its org roles)."""
    if not access.can_view_org(organization.pk):
        raise Http404(f"no organization {organization.name!r}")
    return (
        BillingAccount.objects.filter(organization=organization)
        .select_related("organization").prefetch_related("contacts").order_by("name")
    )


def billing_account_get(*, access: Access, organization: Organization,
                        billing_account_id: int) -> BillingAccount:
    account = billing_account_list(access=access, organization=organization).filter(
        pk=billing_account_id
    ).first()
    if account is None:
        raise Http404(f"no billing account {billing_account_id}")
    return account


def project_viewer_grants(*, project: Project) -> QuerySet[RoleGrant]:
    return RoleGrant.objects.filter(
        project=project, role=Role.PROJECT_BILLING_VIEWER
    ).select_related("user", "granted_by").order_by("user__username")


def organization_grants(*, organization: Organization) -> QuerySet[RoleGrant]:
    return RoleGrant.objects.filter(organization=organization).select_related(
        "user", "granted_by"
    ).order_by("user__username", "role")


@dataclass(frozen=True, slots=True)
class AssignmentSpan:
    """A project billed to an account over `[valid_from, valid_to)` (None = open)."""

    project_id: int
    billing_account_id: int
    valid_from: datetime
    valid_to: datetime | None


def assignments_for_period(*, period: Period) -> list[AssignmentSpan]:
    """Every assignment overlapping `period`, unclipped, ordered by project then start:
    one query, for the rating run to split usage between accounts."""
    rows = (
        ProjectAccountAssignment.objects
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=period.start),
                valid_from__lt=period.end)
        .order_by("project_id", "valid_from")
        .values_list("project_id", "billing_account_id", "valid_from", "valid_to")
    )
    return [AssignmentSpan(*row) for row in rows]


def project_billing_account_at(*, project: Project, t: datetime) -> BillingAccount | None:
    """The account the project bills to at instant `t`, or None before its first assignment."""
    assignment = (
        ProjectAccountAssignment.objects.filter(_in_force_at(t), project=project)
        .select_related("billing_account").first()
    )
    return assignment.billing_account if assignment else None


def project_labels() -> dict[int, tuple[str, str]]:
    """Every project's id -> (project name, organization name), in one query: what an
    invoice line prints."""
    return {
        pk: (name, organization_name)
        for pk, name, organization_name in Project.objects.values_list(
            "pk", "name", "organization__name"
        )
    }


def project_organization_ids() -> dict[int, int]:
    """Every project's id -> its organization's id, in one query (credit scoping)."""
    return dict(Project.objects.values_list("pk", "organization_id"))


# --- entitlements ----------------------------------------------------------------------


def billing_account_visible(*, access: Access, billing_account_id: int) -> BillingAccount:
    """A billing account by id if the caller may see its organization's billing; Http404."""
    account = (BillingAccount.objects.select_related("organization")
               .filter(pk=billing_account_id).first())
    if account is None or not access.can_view_org(account.organization_id):
        raise Http404(f"no billing account {billing_account_id}")
    return account


def entitlement_list(*, billing_account: BillingAccount) -> QuerySet[Entitlement]:
    """The account's entitlements, newest first, with their offer versions."""
    return (Entitlement.objects.filter(billing_account=billing_account)
            .select_related("offer_version__offer", "created_by")
            .order_by("-start", "-id"))


def entitlement_get(*, billing_account: BillingAccount, entitlement_id: int) -> Entitlement:
    entitlement = entitlement_list(billing_account=billing_account).filter(
        pk=entitlement_id).first()
    if entitlement is None:
        raise Http404(f"no entitlement {entitlement_id}")
    return entitlement


@dataclass(frozen=True, slots=True)
class EntitlementSpan:
    """An entitlement over `[start, end)` (None = open), as rating needs it."""

    entitlement_id: int
    billing_account_id: int
    offer_version_id: int
    price_list_id: int
    label: str  # "Pro v2"
    service_ids: frozenset[int]
    start: datetime
    end: datetime | None


def entitlements_for_period(*, period: Period) -> list[EntitlementSpan]:
    """Every entitlement overlapping `period`, in two queries."""
    rows = (
        Entitlement.objects.filter(Q(end__isnull=True) | Q(end__gt=period.start),
                                   start__lt=period.end)
        .select_related("offer_version__offer")
        .prefetch_related("offer_version__services")
        .order_by("billing_account_id", "start", "id")
    )
    return [
        EntitlementSpan(
            entitlement_id=e.pk, billing_account_id=e.billing_account_id,
            offer_version_id=e.offer_version_id,
            price_list_id=e.offer_version.price_list_id,
            label=f"{e.offer_version.offer.name} v{e.offer_version.number}",
            service_ids=frozenset(s.pk for s in e.offer_version.services.all()),
            start=e.start, end=e.end,
        )
        for e in rows
    ]


def entitlements_active_at(*, at: datetime) -> bool:
    """Whether any entitlement is active at `at` (its recurring charges bill the billing
    month that starts there). One query."""
    return Entitlement.objects.filter(Q(end__isnull=True) | Q(end__gt=at), start__lte=at).exists()
