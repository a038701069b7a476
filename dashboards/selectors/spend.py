"""Spend of a cycle: the lines that count, their totals and breakdowns, the trend over
past cycles, per-organization and per-project rankings, and the month-end forecast."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import (
    DecimalField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from accounts.access import Access, visible_organizations, visible_projects
from accounts.models import Organization, Project
from catalog.models import Metric
from catalog.selectors import metric_names, region_names
from core.replica import read_alias
from cycles.models import BillingCycle
from invoicing import selectors as invoicing_selectors
from invoicing.forecast import ForecastLine, lines_forecast
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus
from invoicing.selectors import SpendSummary, spend_summary
from tenancy.selectors import provider_current

TREND_CYCLES = 12
MONEY = DecimalField(max_digits=30, decimal_places=10)


def billed_lines(*, cycle: BillingCycle) -> QuerySet:
    """The fleet's spend in `cycle`: every organization's lines."""
    return invoicing_selectors.billed_lines(cycle=cycle, using=read_alias())


def organization_lines(*, cycle: BillingCycle, organization: Organization) -> QuerySet:
    """What an organization spends: every line of its billing accounts' invoices, so
    account-level charges (offers' fees) count too."""
    return billed_lines(cycle=cycle).filter(invoice__billing_account__organization=organization)


def project_lines(*, cycle: BillingCycle, project: Project) -> QuerySet:
    return billed_lines(cycle=cycle).filter(project=project)


def summary(*, cycle: BillingCycle, lines: QuerySet) -> SpendSummary:
    """Total, split by resource type, daily rate and month-end forecast (one query)."""
    return spend_summary(cycle=cycle, lines=lines)


# --- breakdowns -----------------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    key: str
    label: str
    amount: Decimal


def _slices(rows, labels: dict[str, str] | None = None) -> list[Slice]:
    labels = labels or {}
    return [
        Slice(key=key or "", label=labels.get(key or "", key or "(none)"), amount=total)
        for key, total in rows
    ]


def spend_by_region(*, lines: QuerySet) -> list[Slice]:
    rows = (
        lines.values("region").annotate(total=Sum("amount")).order_by("-total", "region")
        .values_list("region", "total")
    )
    names = region_names()
    names[""] = "No region"
    return _slices(rows, names)


def spend_by_resource_type(*, lines: QuerySet) -> list[Slice]:
    rows = (
        lines.values("metric_key").annotate(total=Sum("amount")).order_by("-total", "metric_key")
        .values_list("metric_key", "total")
    )
    names = metric_names()
    names[""] = "Other charges"
    return _slices(rows, names)


def spend_by_service(*, lines: QuerySet) -> list[Slice] | None:
    """Spend per service of the line's metric (one query); None when no spend belongs
    to a service. Lines whose metric belongs to no service are "No service"."""
    service = Metric.objects.filter(key=OuterRef("metric_key")).values("service__name")[:1]
    rows = (
        lines.annotate(service_name=Coalesce(Subquery(service), Value("")))
        .values("service_name").annotate(total=Sum("amount")).order_by("-total", "service_name")
        .values_list("service_name", "total")
    )
    slices = _slices(rows, {"": "No service"})
    if all(s.key == "" for s in slices):
        return None
    return slices


# --- over time and per scope ----------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    label: str
    amount: Decimal
    status: str


def spend_trend(*, upto: BillingCycle, lines_filter: Q | None = None,
                cycles: int = TREND_CYCLES) -> list[TrendPoint]:
    """Total spend per cycle, oldest first, for the `cycles` cycles up to `upto`
    (two queries)."""
    alias = read_alias()
    recent = list(BillingCycle.objects.using(alias).filter(start__lte=upto.start)
                  .order_by("-start")[:cycles])
    lines = InvoiceLine.objects.using(alias).filter(invoice__cycle__in=recent).exclude(
        invoice__status=InvoiceStatus.VOID
    )
    if lines_filter is not None:
        lines = lines.filter(lines_filter)
    totals = dict(
        lines.values("invoice__cycle_id").annotate(total=Sum("amount"))
        .values_list("invoice__cycle_id", "total")
    )
    return [
        TrendPoint(label=c.label, amount=totals.get(c.pk, Decimal(0)), status=c.status)
        for c in reversed(recent)
    ]


def organization_spend(*, cycle: BillingCycle, access: Access) -> QuerySet:
    """Organizations the caller may see the spend of, by spend in `cycle` (largest
    first): values rows with `total`, `lines`, `id`, `name`, `display_name`."""
    lines = billed_lines(cycle=cycle).filter(invoice__billing_account__organization=OuterRef("pk"))
    total = lines.values("invoice__billing_account__organization").annotate(
        total=Sum("amount")).values("total")[:1]
    organizations = visible_organizations(access).using(read_alias())
    if not access.sees_fleet:
        organizations = organizations.filter(pk__in=access.org_ids)
    return (
        organizations.annotate(total=Coalesce(Subquery(total, output_field=MONEY),
                                              Value(Decimal(0)), output_field=MONEY))
        .order_by("-total", "name")
        .values("id", "name", "display_name", "total")
    )


def project_spend(*, cycle: BillingCycle, access: Access,
                  organization: Organization | None = None) -> QuerySet:
    """Projects the caller may see, by spend in `cycle` (largest first), with their
    daily rate at the last rating: values rows with `total`, `daily_rate`, `id`, `name`,
    `organization__name`."""
    lines = billed_lines(cycle=cycle).filter(project=OuterRef("pk")).values("project")
    total = lines.annotate(total=Sum("amount")).values("total")[:1]
    daily = lines.annotate(
        daily=Sum(Cast(KeyTextTransform("daily_rate", "details"), MONEY))
    ).values("daily")[:1]
    projects = visible_projects(access).using(read_alias())
    if organization is not None:
        projects = projects.filter(organization=organization)
    zero = Value(Decimal(0))
    return (
        projects.annotate(
            total=Coalesce(Subquery(total, output_field=MONEY), zero, output_field=MONEY),
            daily_rate=Coalesce(Subquery(daily, output_field=MONEY), zero, output_field=MONEY),
        )
        .order_by("-total", "name")
        .values("id", "name", "organization__name", "organization__display_name", "total",
                "daily_rate")
    )


# --- forecast -------------------------------------------------------------------------


def rated_until(*, cycle: BillingCycle) -> datetime | None:
    """How far the cycle's drafts are rated (the latest rating of any of its invoices)."""
    return (Invoice.objects.using(read_alias()).filter(cycle=cycle)
            .aggregate(at=Max("rated_at"))["at"])


def project_forecasts(*, cycle: BillingCycle, project_ids: list[int]) -> dict[int, Decimal]:
    """Month-end forecast of each project's lines, by project id: `invoicing.forecast`,
    the computation of the upcoming invoice, so a project row and the invoice agree
    (metered usage at its pace included). One query."""
    currency = provider_current().currency
    by_project: dict[int, list[ForecastLine]] = defaultdict(list)
    rows = billed_lines(cycle=cycle).filter(project_id__in=project_ids).values_list(
        "project_id", "invoice_id", "kind", "metric_key", "amount", "details",
        "invoice__rated_at")
    for project_id, invoice_id, kind, metric_key, amount, details, rated_at in rows:
        by_project[project_id].append(ForecastLine(
            invoice_id=invoice_id, kind=kind, metric_key=metric_key or "", amount=amount,
            details=details or {}, rated_at=rated_at))
    return {pk: lines_forecast(cycle=cycle, lines=lines, currency=currency)[1]
            for pk, lines in by_project.items()}
