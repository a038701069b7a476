"""Reads of budgets: budgets and their alerts, spend per scope, notification preferences."""

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet, Sum
from django.http import Http404

from accounts.access import Access
from accounts.models import ORG_ROLES, BillingAccount, Organization, Project, RoleGrant
from budgets.models import (
    Budget,
    BudgetAlert,
    BudgetRecipient,
    BudgetScope,
    BudgetWebhookDelivery,
    NotificationPreference,
)
from invoicing.models import BillingCycle
from invoicing.selectors import billed_lines

NO_SUCH_BUDGET = "no budget {id}"


# --- budgets -------------------------------------------------------------------------


def _budgets() -> QuerySet[Budget]:
    return Budget.objects.select_related(
        "organization", "project__organization", "created_by"
    ).prefetch_related(
        Prefetch("recipients", queryset=BudgetRecipient.objects.select_related("user"))
    )


def budget_list(*, organization: Organization | None = None,
                project: Project | None = None) -> QuerySet[Budget]:
    """The budgets of one scope (an organization's own, not its projects'), with their
    recipients prefetched."""
    if (organization is None) == (project is None):
        raise ValueError("give exactly one of organization and project")
    if project is not None:
        return _budgets().filter(scope=BudgetScope.PROJECT, project=project).order_by("name", "id")
    return _budgets().filter(
        scope=BudgetScope.ORGANIZATION, organization=organization
    ).order_by("name", "id")


def budget_get(*, budget_id: int, organization: Organization | None = None,
               project: Project | None = None) -> Budget:
    """One budget of the scope; Http404 if it belongs elsewhere."""
    budget = budget_list(organization=organization, project=project).filter(pk=budget_id).first()
    if budget is None:
        raise Http404(NO_SUCH_BUDGET.format(id=budget_id))
    return budget


def budget_visible(*, access: Access, budget: Budget) -> bool:
    """Whether the caller may see (and manage) the budget: billing view of its scope."""
    if budget.scope == BudgetScope.PROJECT:
        return access.can_view_project(budget.project)
    return access.can_view_org(budget.organization_id)


def budget_get_visible(*, access: Access, budget_id: int) -> Budget:
    """A budget by id for a caller who may see its scope; Http404 otherwise."""
    budget = _budgets().filter(pk=budget_id).first()
    if budget is None or not budget_visible(access=access, budget=budget):
        raise Http404(NO_SUCH_BUDGET.format(id=budget_id))
    return budget


def budget_alert_list(*, budget: Budget, period: str | None = None) -> QuerySet[BudgetAlert]:
    alerts = BudgetAlert.objects.filter(budget=budget).select_related("cycle", "user")
    if period:
        alerts = alerts.filter(cycle__label=period)
    return alerts.order_by("-cycle__start", "threshold", "recipient")


def budget_webhook_delivery_list(*, budget: Budget) -> QuerySet[BudgetWebhookDelivery]:
    return BudgetWebhookDelivery.objects.filter(budget=budget).select_related("cycle").order_by(
        "-cycle__start", "threshold"
    )


# --- spend ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeSpend:
    """Spend of a cycle per project and per organization (sums of billed line amounts)."""

    by_project: dict[int, Decimal]
    by_organization: dict[int, Decimal]

    def of(self, budget: Budget) -> Decimal:
        if budget.scope == BudgetScope.PROJECT:
            return self.by_project.get(budget.project_id, Decimal(0))
        return self.by_organization.get(budget.organization_id, Decimal(0))


def scope_spend(*, cycle: BillingCycle) -> ScopeSpend:
    """What every project and organization spent in `cycle` so far: the lines that count
    as spend (`invoicing.selectors.billed_lines`, credits included), summed, in two
    queries. The same total as `spend_summary` for one scope."""
    lines = billed_lines(cycle=cycle).filter(project__isnull=False)
    by_project = dict(lines.values("project_id").annotate(total=Sum("amount"))
                      .values_list("project_id", "total"))
    by_organization = dict(
        lines.values("project__organization_id").annotate(total=Sum("amount"))
        .values_list("project__organization_id", "total")
    )
    return ScopeSpend(by_project=by_project, by_organization=by_organization)


def scope_total(*, cycle: BillingCycle, organization: Organization | None = None,
                project: Project | None = None) -> Decimal:
    """What one project or organization spent in `cycle` so far (one query)."""
    lines = billed_lines(cycle=cycle)
    if project is not None:
        lines = lines.filter(project=project)
    else:
        lines = lines.filter(project__organization=organization)
    return lines.aggregate(total=Sum("amount"))["total"] or Decimal(0)


def alert_email_statuses(*, keys) -> dict[str, str]:
    """The outbox status of each alert email, by outbox key (one query)."""
    from invoicing.models import OutboxMessage

    return dict(OutboxMessage.objects.filter(key__in=list(keys)).values_list("key", "status"))


# --- notification preferences --------------------------------------------------------


@dataclass(frozen=True)
class PreferenceView:
    """A user's effective preference on one organization or project (defaults if unset)."""

    scope: str
    organization: str | None
    project: str | None
    invoice_email: bool
    budget_email: bool
    is_default: bool


def _view(*, organization: Organization | None, project: Project | None,
          row: NotificationPreference | None) -> PreferenceView:
    return PreferenceView(
        scope=BudgetScope.PROJECT if project is not None else BudgetScope.ORGANIZATION,
        organization=(project.organization.name if project is not None
                      else organization.name),
        project=project.name if project is not None else None,
        invoice_email=row.invoice_email if row else True,
        budget_email=row.budget_email if row else True,
        is_default=row is None,
    )


def notification_preference_get(*, user, organization: Organization | None = None,
                                project: Project | None = None) -> PreferenceView:
    if (organization is None) == (project is None):
        raise ValueError("give exactly one of organization and project")
    row = NotificationPreference.objects.filter(
        user=user, organization=organization, project=project
    ).first()
    return _view(organization=organization, project=project, row=row)


def notification_preference_list(*, user, access: Access) -> list[PreferenceView]:
    """The caller's preferences: every organization and project they hold a billing role
    on (defaults where they never chose), and any other row they saved. Three queries."""
    rows = list(
        NotificationPreference.objects.filter(user=user)
        .select_related("organization", "project__organization")
    )
    by_org = {row.organization_id: row for row in rows if row.organization_id}
    by_project = {row.project_id: row for row in rows if row.project_id}
    organizations = Organization.objects.filter(
        Q(pk__in=access.org_ids) | Q(pk__in=by_org.keys())
    ).order_by("name")
    projects = Project.objects.filter(
        Q(pk__in=access.viewer_project_ids) | Q(pk__in=by_project.keys())
    ).select_related("organization").order_by("name")
    views = [_view(organization=o, project=None, row=by_org.get(o.pk)) for o in organizations]
    views += [_view(organization=None, project=p, row=by_project.get(p.pk)) for p in projects]
    return views


def budget_email_opt_outs(*, user_ids) -> tuple[set[tuple[int, int]], set[tuple[int, int]],
                                                 set[tuple[int, int]]]:
    """(user, organization) and (user, project) pairs that turned budget email off, and
    (user, project) pairs that turned it explicitly on (a project's row wins over its
    organization's). One query."""
    org_off: set[tuple[int, int]] = set()
    project_off: set[tuple[int, int]] = set()
    project_on: set[tuple[int, int]] = set()
    rows = NotificationPreference.objects.filter(user_id__in=list(user_ids)).values_list(
        "user_id", "organization_id", "project_id", "budget_email"
    )
    for user_id, organization_id, project_id, budget_email in rows:
        if project_id is not None:
            (project_on if budget_email else project_off).add((user_id, project_id))
        elif not budget_email:
            org_off.add((user_id, organization_id))
    return org_off, project_off, project_on


def invoice_email_recipients(billing_account: BillingAccount) -> list[str]:
    """Who receives the account's monthly invoice email: its billing contacts, plus the
    organization's billing users (org admins and org billing viewers, active, with an
    email address) who did not turn `invoice_email` off for the organization.

    Lowercased, each address once, contacts first then users, each group sorted.
    Two queries.
    """
    contacts = sorted(
        email.strip().lower()
        for email in billing_account.contacts.values_list("email", flat=True)
        if email and email.strip()
    )
    opted_out = NotificationPreference.objects.filter(
        organization_id=billing_account.organization_id, invoice_email=False
    ).values("user_id")
    users = (
        get_user_model().objects.filter(
            is_active=True,
            pk__in=RoleGrant.objects.filter(
                organization_id=billing_account.organization_id, role__in=ORG_ROLES
            ).values("user_id"),
        )
        .exclude(email="")
        .exclude(pk__in=opted_out)
        .values_list("email", flat=True)
    )
    out: list[str] = []
    for email in [*contacts, *sorted(e.strip().lower() for e in users)]:
        if email and email not in out:
            out.append(email)
    return out
