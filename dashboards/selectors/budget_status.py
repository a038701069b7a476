"""Budgets on the organization and project pages: this cycle's spend against each
budget, the thresholds it crossed and the alerts sent."""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Organization, Project
from budgets.domain import percent_used, thresholds_crossed
from budgets.models import Budget, BudgetAlert
from budgets.selectors import budget_list
from core.replica import read_alias
from cycles.models import BillingCycle


@dataclass(frozen=True)
class BudgetView:
    budget: Budget
    spend: Decimal
    percent: Decimal
    crossed: list[int]
    alerts: list[BudgetAlert]


def budgets_for(*, organization: Organization | None = None, project: Project | None = None,
                cycle: BillingCycle | None, spend: Decimal) -> list[BudgetView]:
    """The scope's budgets with this cycle's spend against them and their alerts in
    the cycle (three queries)."""
    alias = read_alias()
    budgets = list(budget_list(organization=organization, project=project).using(alias))
    alerts: dict[int, list] = defaultdict(list)
    if budgets and cycle is not None:
        for alert in (
            BudgetAlert.objects.using(alias).filter(budget__in=budgets, cycle=cycle)
            .order_by("threshold", "recipient")
        ):
            alerts[alert.budget_id].append(alert)
    return [
        BudgetView(
            budget=budget, spend=spend,
            percent=percent_used(spend=spend, amount=budget.amount),
            crossed=thresholds_crossed(spend=spend, amount=budget.amount,
                                       thresholds=budget.thresholds),
            alerts=alerts.get(budget.pk, []),
        )
        for budget in budgets
    ]
