"""Reads of budgets: budgets and their alerts, spend per scope."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, QuerySet, Sum
from django.http import Http404

from accounts.access import Access
from accounts.models import Organization, Project
from budgets.models import (
    Budget,
    BudgetAlert,
    BudgetRecipient,
    BudgetScope,
)
from cycles.models import BillingCycle
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
    queries. The same totals as the dashboards' for one scope: an organization's are
    every line of its accounts' invoices, account-level fees (an offer's one-time and
    monthly fees) included."""
    lines = billed_lines(cycle=cycle)
    by_project = dict(lines.filter(project__isnull=False).values("project_id")
                      .annotate(total=Sum("amount")).values_list("project_id", "total"))
    by_organization = dict(
        lines.values("invoice__billing_account__organization_id").annotate(total=Sum("amount"))
        .values_list("invoice__billing_account__organization_id", "total")
    )
    return ScopeSpend(by_project=by_project, by_organization=by_organization)


def scope_total(*, cycle: BillingCycle, organization: Organization | None = None,
                project: Project | None = None) -> Decimal:
    """What one project or organization spent in `cycle` so far (one query)."""
    lines = billed_lines(cycle=cycle)
    if project is not None:
        lines = lines.filter(project=project)
    else:
        lines = lines.filter(invoice__billing_account__organization=organization)
    return lines.aggregate(total=Sum("amount"))["total"] or Decimal(0)
