"""Budgets on the organization and project pages: this cycle's spend against each
budget, the thresholds it crossed and the alerts sent."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from accounts.models import Organization, Project
from budgets.domain import percent_used, thresholds_crossed
from budgets.models import Budget, BudgetAlert
from budgets.selectors import budget_list
from core.periods import timedelta_seconds
from core.replica import read_alias
from cycles.models import BillingCycle, CycleStatus

MICROS = Decimal(1_000_000)


@dataclass(frozen=True)
class Crossing:
    """When, at today's pace, spend passes one threshold in the open cycle."""

    threshold: int
    at: datetime


@dataclass(frozen=True)
class BudgetView:
    budget: Budget
    spend: Decimal
    percent: Decimal
    crossed: list[int]
    alerts: list[BudgetAlert]
    forecast: Decimal | None = None
    forecast_percent: Decimal | None = None
    crossings: list[Crossing] = field(default_factory=list)


def forecast_crossings(*, budget: Budget, spend: Decimal, forecast: Decimal,
                       since: datetime, end: datetime) -> list[Crossing]:
    """The thresholds not crossed yet that spend passes before `end` if it grows from
    `spend` at `since` to `forecast` at `end` at an even pace (the forecast's own pace:
    running time, fees and metered usage), with the instant each is passed."""
    if forecast <= spend or since >= end:
        return []
    per_second = (forecast - spend) / timedelta_seconds(end - since)
    crossings = []
    for threshold in budget.thresholds:
        level = budget.amount * threshold / 100
        if spend < level <= forecast:
            micros = int(((level - spend) / per_second * MICROS).to_integral_value())
            crossings.append(Crossing(threshold=threshold,
                                      at=since + timedelta(microseconds=micros)))
    return crossings


def budgets_for(*, organization: Organization | None = None, project: Project | None = None,
                cycle: BillingCycle | None, spend: Decimal, forecast: Decimal | None = None,
                since: datetime | None = None) -> list[BudgetView]:
    """The scope's budgets with this cycle's spend against them, their alerts in the
    cycle and, with a forecast of an open cycle rated at `since`, the thresholds spend
    will pass at today's pace and when (three queries)."""
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
            forecast=forecast,
            forecast_percent=(percent_used(spend=forecast, amount=budget.amount)
                              if forecast is not None else None),
            crossings=(forecast_crossings(budget=budget, spend=spend, forecast=forecast,
                                          since=since, end=cycle.end)
                       if forecast is not None and since is not None and cycle is not None
                       and cycle.status == CycleStatus.OPEN else []),
        )
        for budget in budgets
    ]
