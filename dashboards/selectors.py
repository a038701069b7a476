"""Page-level reads of the dashboards.

They call the other apps' selectors (spend summaries, invoices, ingestion health,
budgets, offers) and add the aggregations a page needs. Every function runs a fixed
number of queries whatever the data size: sums are computed by PostgreSQL, lists come
back one page at a time, related rows are fetched with select_related/prefetch.

Spend always means `invoicing.selectors.billed_lines`: the lines of the cycle's draft
and finalized invoices (void ones no longer count), credits included.

They only read, so each query names `read_alias()`: the read replica when one is
configured and healthy, else `default` (billing/replica.py). Objects they return carry
that alias, and the related rows a page loads from them follow it. Reads made through
other apps' selectors that take no alias (ingestion health, unentitled usage, offers,
catalog names, roles) stay on `default`.
"""

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.apps import apps
from django.core.paginator import Page, Paginator
from django.db.models import (
    DecimalField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.http import Http404

from accounts.access import Access, visible_organizations, visible_projects
from accounts.models import BillingAccount, Organization, Project, ProjectAccountAssignment
from core.money import round_money
from core.replica import read_alias
from cycles.models import BillingCycle, CycleStatus
from cycles.selectors import cycle_for_label
from invoicing import models as invoicing_models
from invoicing import selectors as invoicing_selectors
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus
from invoicing.selectors import SpendSummary, invoice_list, spend_summary
from tenancy.selectors import provider_current

PAGE_SIZE = 25
PREVIEW_SIZE = 5
TOP_SIZE = 10
TREND_CYCLES = 12
SECONDS_PER_DAY = Decimal(86400)
NO_SUCH_CYCLE = "there is no billing cycle {label}"
MONEY = DecimalField(max_digits=30, decimal_places=10)


def paginate(items, *, page: str | int | None, per_page: int = PAGE_SIZE) -> Page:
    """One page of `items` (two queries: a count and the page). A page number past the
    end shows the last page, a malformed one the first."""
    return Paginator(items, per_page).get_page(page)


# --- the billing calendar -------------------------------------------------------------


def dashboard_cycle(*, label: str | None, now: datetime) -> BillingCycle | None:
    """The cycle a page shows: the one named `label` (YYYY-MM), else the one containing
    `now`, else the latest that has started. Http404 for a label with no cycle."""
    try:
        cycle = cycle_for_label(label or None, now=now, using=read_alias())
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    if cycle is None and label:
        raise Http404(NO_SUCH_CYCLE.format(label=label))
    if cycle is None:
        cycle = (BillingCycle.objects.using(read_alias()).filter(start__lte=now)
                 .order_by("-start").first())
    return cycle


def cycle_choices(*, now: datetime, limit: int = 24) -> list[BillingCycle]:
    """The latest cycles that have started, newest first, for the period picker."""
    return list(BillingCycle.objects.using(read_alias()).filter(start__lte=now)
                .order_by("-start")[:limit])


def cycle_is_open(cycle: BillingCycle | None) -> bool:
    return cycle is not None and cycle.status == CycleStatus.OPEN


# --- spend ----------------------------------------------------------------------------


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
    from catalog.selectors import region_names

    rows = (
        lines.values("region").annotate(total=Sum("amount")).order_by("-total", "region")
        .values_list("region", "total")
    )
    names = region_names()
    names[""] = "No region"
    return _slices(rows, names)


def spend_by_resource_type(*, lines: QuerySet) -> list[Slice]:
    from catalog.selectors import metric_names

    rows = (
        lines.values("metric_key").annotate(total=Sum("amount")).order_by("-total", "metric_key")
        .values_list("metric_key", "total")
    )
    names = metric_names()
    names[""] = "Other charges"
    return _slices(rows, names)


def services_known() -> bool:
    """Whether the catalog has services that metrics belong to (the consumer flow)."""
    from catalog.models import Metric

    return any(f.name == "service" for f in Metric._meta.get_fields())


def spend_by_service(*, lines: QuerySet) -> list[Slice] | None:
    """Spend per service of the line's metric (one query); None when the catalog has no
    services or no spend belongs to one. Lines whose metric belongs to no service are
    "No service"."""
    if not services_known():
        return None
    from catalog.models import Metric

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


def rated_until(*, cycle: BillingCycle) -> datetime | None:
    """How far the cycle's drafts are rated (the latest rating of any of its invoices)."""
    from django.db.models import Max

    return (Invoice.objects.using(read_alias()).filter(cycle=cycle)
            .aggregate(at=Max("rated_at"))["at"])


def remaining_days(*, cycle: BillingCycle, until: datetime | None) -> Decimal:
    """Days (fractional) from `until` to the end of an open cycle: what a forecast adds."""
    if cycle.status != CycleStatus.OPEN or until is None or until >= cycle.end:
        return Decimal(0)
    remaining = cycle.end - until
    return Decimal(remaining.days) + Decimal(remaining.seconds) / SECONDS_PER_DAY


def forecast(*, total: Decimal, daily_rate: Decimal, days_left: Decimal,
             currency: str) -> Decimal:
    """The month-end forecast the way `spend_summary` computes it: spend so far plus the
    daily rate over the rest of the cycle, rounded once."""
    return round_money(total + daily_rate * days_left, currency)


# --- daily spend ----------------------------------------------------------------------


@dataclass(frozen=True)
class DaySpend:
    day: date
    amount: Decimal | None  # None: not rated yet (after `rated_until`)
    projected: Decimal | None  # the daily rate, on days still to come


def _day_starts(cycle: BillingCycle, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants where the cycle's days (in the billing zone) begin, plus its end."""
    first = cycle.start.astimezone(zone).date()
    last = (cycle.end - timedelta(microseconds=1)).astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    starts = [datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC) for d in days]
    starts[0] = max(starts[0], cycle.start)
    return [*starts, cycle.end]


def daily_spend(*, cycle: BillingCycle, lines: QuerySet, daily_rate: Decimal,
                until: datetime | None) -> list[DaySpend]:
    """Spend per day of the cycle, days in the provider's billing time zone. One query.

    Method: each line's (already rounded) amount is spread over its period
    `[period_start, period_end)` in proportion to time. A line groups resources of one
    price, so this is exact for resources that ran the whole period and an even
    approximation otherwise; credits fall on the days of their window. The days are
    rounded cumulatively (each day is the rounded running total minus the previous
    one), so they add up to the cycle's total to the cent. Days after the last rating
    carry the current daily rate as a projection instead.
    """
    currency = provider_current().currency
    zone = ZoneInfo(provider_current().billing_timezone)
    bounds = _day_starts(cycle, zone)
    seconds = [Decimal(int((bounds[i + 1] - bounds[i]).total_seconds()))
               for i in range(len(bounds) - 1)]
    raw = [Decimal(0)] * (len(bounds) - 1)
    for start, end, amount in lines.values_list("period_start", "period_end", "amount"):
        start, end = max(start, cycle.start), min(end, cycle.end)
        length = Decimal(int((end - start).total_seconds()))
        if length <= 0:  # a line outside the cycle (never written by the rating run)
            continue
        index = max(0, bisect_right(bounds, start) - 1)
        while index < len(raw) and bounds[index] < end:
            overlap = min(end, bounds[index + 1]) - max(start, bounds[index])
            part = Decimal(int(overlap.total_seconds()))
            if part > 0:
                raw[index] += amount * part / length
            index += 1
    days: list[DaySpend] = []
    running = Decimal(0)
    shown = Decimal(0)
    open_cycle = cycle.status == CycleStatus.OPEN
    for index, amount in enumerate(raw):
        day = bounds[index].astimezone(zone).date()
        future = open_cycle and (until is None or bounds[index] >= until)
        running += amount
        rounded = round_money(running, currency)
        value, shown = rounded - shown, rounded
        if future and value == 0:
            days.append(DaySpend(day=day, amount=None, projected=daily_rate))
        else:
            projected = None
            if open_cycle and until is not None and bounds[index] < until < bounds[index + 1]:
                # The day of the last rating: the rest of it at the current daily rate.
                rest = Decimal(int((bounds[index + 1] - until).total_seconds()))
                projected = round_money(daily_rate * rest / seconds[index], currency)
            days.append(DaySpend(day=day, amount=value, projected=projected))
    return days


# --- invoices -------------------------------------------------------------------------


def delivery_tracked() -> bool:
    """Whether invoicing tracks PDF, email and payment per invoice (issue 5)."""
    return hasattr(invoicing_models, "InvoiceDelivery")


def _with_delivery(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    if delivery_tracked():
        return invoices.select_related("delivery")
    return invoices


def upcoming_invoices(*, organization: Organization, cycle: BillingCycle | None
                      ) -> list[Invoice]:
    """The drafts of the open cycle for the organization's billing accounts (one query)."""
    if not cycle_is_open(cycle):
        return []
    return list(
        invoice_list(organization_ids=[organization.pk], status=InvoiceStatus.DRAFT,
                     using=read_alias())
        .filter(cycle=cycle).order_by("billing_account__name")
    )


def past_invoices(*, organization: Organization) -> QuerySet[Invoice]:
    """The organization's issued invoices (finalized and void), newest first."""
    return _with_delivery(
        invoice_list(organization_ids=[organization.pk], using=read_alias())
        .exclude(status=InvoiceStatus.DRAFT)
    ).order_by("-cycle__start", "billing_account__name", "pk")


def invoice_visible(*, access: Access, invoice_id: int) -> Invoice:
    """One invoice the caller may see (fleet roles; org roles on its organization):
    Http404 otherwise."""
    org_ids = None if access.sees_fleet else access.org_ids
    invoices = _with_delivery(invoice_list(organization_ids=org_ids, using=read_alias()))
    invoice = invoices.filter(pk=invoice_id).first()
    if invoice is None:
        raise Http404(f"no invoice {invoice_id}")
    return invoice


def invoice_lines(*, invoice: Invoice) -> QuerySet[InvoiceLine]:
    return InvoiceLine.objects.using(read_alias()).filter(invoice=invoice).order_by(
        "sort_key", "id")


def invoice_pdf_path(*, invoice: Invoice, now: datetime):
    """The stored PDF of an issued invoice (an absolute Path), the same file the API's
    `GET /api/v1/invoices/{id}/pdf` serves; None for a draft or a PDF that cannot be
    rendered now (or when invoicing renders no PDFs)."""
    if invoice.status == InvoiceStatus.DRAFT:
        return None
    try:
        from invoicing.delivery import invoice_pdf_file
    except ImportError:
        return None
    return invoice_pdf_file(invoice_id=invoice.pk, now=now)


def invoice_pdf_ready(invoice: Invoice) -> bool:
    """Whether an issued invoice has a PDF to download: rendered, or still to render
    (the download renders it on demand); not for drafts nor after rendering failed."""
    if not delivery_tracked() or invoice.status == InvoiceStatus.DRAFT:
        return False
    try:
        from invoicing.delivery import invoice_pdf_file  # noqa: F401
    except ImportError:
        return False
    delivery = getattr(invoice, "delivery", None)
    return delivery is None or delivery.pdf_status in ("pending", "done")


ATTENTION_LABELS = {
    "pdf": "PDF failed", "email": "Email failed", "payment": "Payment failed",
}


def invoices_needing_attention() -> QuerySet[Invoice] | None:
    """Finalized invoices whose PDF, email or payment failed, newest first; None when
    invoicing does not track delivery."""
    if not delivery_tracked():
        return None
    from invoicing.delivery import deliveries_with_problems

    return (
        Invoice.objects.using(read_alias()).filter(deliveries_with_problems())
        .select_related("cycle", "billing_account__organization", "delivery")
        .order_by("-cycle__start", "pk").distinct()
    )


def attention_reasons(invoice: Invoice) -> list[str]:
    delivery = getattr(invoice, "delivery", None)
    if delivery is None:
        return ["Email failed"]
    reasons = []
    if delivery.pdf_status == "failed" or delivery.failed_step == "pdf":
        reasons.append(ATTENTION_LABELS["pdf"])
    if delivery.email_status == "failed" or delivery.failed_step == "email":
        reasons.append(ATTENTION_LABELS["email"])
    if delivery.payment_status in ("failed", "given_up") or delivery.failed_step == "payment":
        reasons.append(f"Payment: {delivery.get_payment_status_display()}")
    return reasons or ["Email failed"]


# --- accounts -------------------------------------------------------------------------


def billing_accounts_with_projects(*, organization: Organization, at: datetime
                                   ) -> list[BillingAccount]:
    """The organization's billing accounts, each with `contacts`, its payment profile
    (when invoicing keeps one) and `current_projects` (the projects billing to it at
    `at`). Three queries."""
    accounts = (
        BillingAccount.objects.using(read_alias()).filter(organization=organization)
        .prefetch_related(
            "contacts",
            Prefetch(
                "assignments",
                queryset=ProjectAccountAssignment.objects.filter(
                    Q(valid_to__isnull=True) | Q(valid_to__gt=at), valid_from__lte=at
                ).select_related("project").order_by("project__name"),
                to_attr="current_assignments",
            ),
        )
        .order_by("-is_default", "name")
    )
    if hasattr(invoicing_models, "PaymentProfile"):
        accounts = accounts.select_related("payment_profile")
    result = list(accounts)
    for account in result:
        account.current_projects = [a.project for a in account.current_assignments]
    return result


def payment_profile_of(account: BillingAccount):
    try:
        return account.payment_profile
    except Exception:  # noqa: BLE001 - RelatedObjectDoesNotExist, or no such relation
        return None


# --- ingestion, credits, unentitled usage ---------------------------------------------


def ingestion_today(*, now: datetime):
    from metering.selectors import ingestion_health

    return ingestion_health(day=now.astimezone(UTC).date())


def credit_list() -> QuerySet:
    from invoicing.models import Credit

    return Credit.objects.using(read_alias()).select_related(
        "organization", "project", "resource", "created_by"
    ).order_by("-window_start", "-id")


def unentitled_usage_available() -> bool:
    """Whether unentitled usage means something here: metering can tell which usage no
    entitlement covers, and the provider sells offers (a chargeback provider prices all
    usage by its list prices, so nothing is left unentitled)."""
    from metering import selectors

    provider = provider_current()
    return (hasattr(selectors, "unentitled_usage")
            and getattr(provider, "billing_mode", "chargeback") == "offers")


def unentitled_usage(*, cycle: BillingCycle) -> list:
    """Usage in the cycle no entitlement covered, per project and metric (one query)."""
    from core.periods import Period
    from metering.selectors import unentitled_usage as metering_unentitled

    return metering_unentitled(period=Period(start=cycle.start, end=cycle.end))


# --- offers and budgets ---------------------------------------------------------------


def offers_available() -> bool:
    from catalog import selectors

    return hasattr(selectors, "offer_current_versions")


def public_offers() -> list:
    from catalog.selectors import offer_current_versions

    return offer_current_versions(include_private=False)


def entitlements_of(*, organization: Organization, now: datetime) -> list:
    """The organization's active entitlements (one query), when accounts keeps them."""
    from accounts import models as accounts_models

    if not hasattr(accounts_models, "Entitlement"):
        return []
    return list(
        accounts_models.Entitlement.objects.using(read_alias()).filter(
            Q(end__isnull=True) | Q(end__gt=now), billing_account__organization=organization,
            start__lte=now,
        ).select_related("billing_account", "offer_version__offer").order_by(
            "billing_account__name", "start")
    )


def budgets_available() -> bool:
    return apps.is_installed("budgets")


@dataclass(frozen=True)
class BudgetView:
    budget: object
    spend: Decimal
    percent: Decimal
    crossed: list[int]
    alerts: list


def budgets_for(*, organization: Organization | None = None, project: Project | None = None,
                cycle: BillingCycle | None, spend: Decimal) -> list[BudgetView] | None:
    """The scope's budgets with this cycle's spend against them and their alerts in
    the cycle (three queries); None when the budgets app is not installed."""
    if not budgets_available():
        return None
    from budgets.domain import percent_used, thresholds_crossed
    from budgets.models import BudgetAlert
    from budgets.selectors import budget_list

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
