"""Unused quota: capacity allocated to projects but not running, and what it costs.

For each project quota (accounts.ProjectQuota) the report gives the allocated
count, how many such resources run now, the unused rest, and that rest priced at
the list price in force now: per day, and per month over the current cycle's
length. Read-only; one query per input (quotas, running resources, prices).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from accounts.models import ProjectQuota
from catalog.domain.matching import select_price
from catalog.domain.time_units import TimeUnit
from catalog.selectors import prices_for_rating
from core.money import round_money
from core.periods import Period
from cycles.selectors import billing_period_containing
from metering.selectors import running_counts
from tenancy.selectors import provider_current

SECONDS_PER_DAY = Decimal(86400)


@dataclass(frozen=True)
class UnusedQuota:
    project: str
    resource_type: str
    variant: str
    region: str
    service_class: str
    allocated: int
    used: int
    unused: int
    rate: Decimal | None
    unit: str | None
    cost_per_day: Decimal
    cost_per_month: Decimal


@dataclass(frozen=True)
class UnusedQuotaReport:
    currency: str
    at: datetime
    items: list[UnusedQuota]

    @property
    def cost_per_day(self) -> Decimal:
        return sum((item.cost_per_day for item in self.items), Decimal(0))

    @property
    def cost_per_month(self) -> Decimal:
        return sum((item.cost_per_month for item in self.items), Decimal(0))


def unused_quota(*, projects, now: datetime) -> UnusedQuotaReport:
    """The unused part of the given projects' quotas, priced at `now`."""
    currency = provider_current().currency
    quotas = list(
        ProjectQuota.objects.filter(project__in=projects).select_related("project", "metric")
    )
    running = running_counts(project_ids=[q.project_id for q in quotas], at=now)
    prices = prices_for_rating(period=Period(start=now, end=now + timedelta(seconds=1)))
    cycle = billing_period_containing(now)
    days_in_cycle = cycle.seconds / SECONDS_PER_DAY
    items = []
    for quota in quotas:
        key = (quota.project_id, quota.metric.key, quota.variant, quota.region,
               quota.service_class)
        used = running.get(key, 0)
        unused = max(quota.allocated - used, 0)
        price = select_price(prices, metric=quota.metric.key, variant=quota.variant,
                             region=quota.region, service_class=quota.service_class, at=now)
        per_day = Decimal(0)
        if price is not None:
            per_day = unused * price.rate * SECONDS_PER_DAY / TimeUnit(price.unit).seconds
        items.append(UnusedQuota(
            project=quota.project.name, resource_type=quota.metric.key, variant=quota.variant,
            region=quota.region, service_class=quota.service_class, allocated=quota.allocated,
            used=used, unused=unused, rate=price.rate if price else None,
            unit=str(price.unit) if price else None,
            cost_per_day=round_money(per_day, currency),
            cost_per_month=round_money(per_day * days_in_cycle, currency),
        ))
    return UnusedQuotaReport(currency=currency, at=now, items=items)
