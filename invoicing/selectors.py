"""Reads of invoicing: where the billing calendar stands, spend, invoices and lines."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum

from core.money import round_money
from core.periods import Period
from cycles.models import BillingCycle
from invoicing.domain.credit_lines import CreditSpec
from invoicing.forecast import ForecastLine, lines_forecast
from invoicing.models import (
    Credit,
    CreditAllocation,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from tenancy.selectors import provider_current

# --- spend, invoices and itemized lines ------------------------------------

SECONDS_PER_DAY = Decimal(86400)
NO_SUCH_PERIOD = "no billing cycle {label}: periods look like 2026-11"


def billed_lines(*, cycle: BillingCycle, using: str | None = None) -> QuerySet[InvoiceLine]:
    """Lines that count as spend in `cycle`: drafts while open, issued ones after
    (void invoices no longer count)."""
    return InvoiceLine.objects.using(using).filter(invoice__cycle=cycle).exclude(
        invoice__status=InvoiceStatus.VOID
    )


@dataclass(frozen=True)
class SpendSummary:
    period_label: str
    period_start: datetime
    period_end: datetime
    currency: str
    status: str
    rated_until: datetime | None
    total: Decimal
    by_resource_type: list[dict]
    daily_rate: Decimal
    forecast: Decimal


def spend_summary(*, cycle: BillingCycle, lines: QuerySet[InvoiceLine]) -> SpendSummary:
    """Total, split by resource type, current daily rate and month-end forecast.

    The daily rate is what the resources running (and the recurring fees active) at the
    last rating cost per day, rounded once. The forecast is `invoicing.forecast`'s, the
    same as the upcoming invoice's: running time and fees at their daily rate, metered
    usage at its pace, per invoice from its own rating instant. One query.
    """
    currency = provider_current().currency
    rows = [
        ForecastLine(invoice_id=invoice_id, kind=kind, metric_key=metric_key or "",
                     amount=amount, details=details or {}, rated_at=rated_at)
        for invoice_id, kind, metric_key, amount, details, rated_at in lines.values_list(
            "invoice_id", "kind", "metric_key", "amount", "details", "invoice__rated_at")
    ]
    by_type: dict[str, Decimal] = defaultdict(Decimal)
    daily = Decimal(0)
    rated_until = None
    for row in rows:
        by_type[row.metric_key or "other"] += row.amount
        daily += Decimal(row.details.get("daily_rate", "0"))
        if row.rated_at and (rated_until is None or row.rated_at > rated_until):
            rated_until = row.rated_at
    total, forecast = lines_forecast(cycle=cycle, lines=rows, currency=currency)
    return SpendSummary(
        period_label=cycle.label,
        period_start=cycle.start,
        period_end=cycle.end,
        currency=currency,
        status=cycle.status,
        rated_until=rated_until,
        total=total,
        by_resource_type=[
            {"resource_type": key, "amount": value} for key, value in sorted(by_type.items())
        ],
        daily_rate=round_money(daily, currency),
        forecast=forecast,
    )


def invoice_list(*, organization_ids=None, billing_account_id=None, project_id=None,
                 period: str | None = None, status: str | None = None,
                 using: str | None = None) -> QuerySet[Invoice]:
    invoices = Invoice.objects.using(using).select_related(
        "cycle", "billing_account__organization")
    if organization_ids is not None:
        invoices = invoices.filter(billing_account__organization_id__in=organization_ids)
    if billing_account_id is not None:
        invoices = invoices.filter(billing_account_id=billing_account_id)
    if project_id is not None:
        invoices = invoices.filter(lines__project_id=project_id).distinct()
    if period:
        invoices = invoices.filter(cycle__label=period)
    if status:
        invoices = invoices.filter(status=status)
    return invoices.order_by("-cycle__start", "billing_account_id")


def credits_for_period(*, period: Period) -> list[CreditSpec]:
    """Credits whose window overlaps `period`, as plain values for the rating run."""
    specs = []
    rows = Credit.objects.filter(window_start__lt=period.end, window_end__gt=period.start)
    for credit in rows.order_by("window_start", "pk"):
        specs.append(CreditSpec(
            credit_id=credit.pk, name=credit.name, description=credit.description,
            window=Period(start=credit.window_start, end=credit.window_end),
            organization_id=credit.organization_id, project_id=credit.project_id,
            resource_pk=credit.resource_id, region=credit.region, metric_key=credit.metric_key,
        ))
    return specs


@dataclass(frozen=True)
class AccountBill:
    organization: str
    billing_account: str
    status: str
    number: str | None
    lines: int
    total: Decimal


@dataclass(frozen=True)
class CycleBill:
    """What a cycle bills: each billing account's invoice (draft or issued)."""

    label: str
    status: str
    currency: str
    accounts: list[AccountBill]

    @property
    def total(self) -> Decimal:
        return sum((a.total for a in self.accounts), Decimal(0))


def bills_by_cycle() -> list[CycleBill]:
    """Every cycle that has invoices, oldest first, with each account's invoice total
    (one query)."""
    invoices = (Invoice.objects.select_related("cycle", "billing_account__organization")
                .annotate(line_count=Count("lines"))
                .order_by("cycle__start", "billing_account__organization__name",
                          "billing_account__name"))
    bills: dict[int, CycleBill] = {}
    for invoice in invoices:
        cycle = invoice.cycle
        bill = bills.setdefault(cycle.pk, CycleBill(label=cycle.label, status=cycle.status,
                                                    currency=invoice.currency, accounts=[]))
        account = invoice.billing_account
        bill.accounts.append(AccountBill(
            organization=account.organization.name, billing_account=account.name,
            status=invoice.status, number=invoice.number, lines=invoice.line_count,
            total=invoice.total))
    return list(bills.values())


# --- credit notes (issue 18) ---------------------------------------------------------


def credit_applied_to(*, invoice_id: int) -> Decimal:
    """Credit notes allocated to an invoice's amount due (its own, or account credit)."""
    applied = CreditAllocation.objects.filter(invoice_id=invoice_id).aggregate(
        total=Sum("amount"))["total"]
    return applied or Decimal(0)


def credit_note_unallocated(*, credit_note: CreditNote) -> Decimal:
    """What of a credit note is still account credit (not yet allocated to an invoice)."""
    allocated = credit_note.allocations.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    return credit_note.total - allocated


def credit_notes_visible(*, organization_ids=None) -> QuerySet[CreditNote]:
    notes = CreditNote.objects.select_related("invoice__cycle", "billing_account__organization")
    if organization_ids is not None:
        notes = notes.filter(billing_account__organization_id__in=organization_ids)
    return notes.prefetch_related("lines", "allocations__invoice").order_by("-sequence")
