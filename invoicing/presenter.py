"""One invoice, one model of what it prints: the PDF, the HTML page and the CSV/JSON
export all read `invoice_document`, so their columns, order and numbers are the same.

Columns, in order: period (its inclusive last day; the provider's zone is named in the
heading), region, description, resource (type, variant and a class other than
standard), project, resource count, quantity with its unit, rate with currency and
unit ("$0.10 per minute") and amount. Every row reads as arithmetic: quantity × rate =
amount, to the cent (a credit's quantity is printed negative, the time it gives back).
Money is written in the provider's locale (invoicing/formatting.py).

A chargeback account's document is a statement: no due date, no payment words, the
total "charged back to <account>". A card account's is an invoice: due date, payment
state, the card's last 4 digits, amount paid and amount due.
"""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.db.models import Sum

from accounts.models import PaymentKind
from core.timefmt import date_text, period_text
from invoicing.formatting import (
    locale_or_default,
    money_text,
    quantity_with_unit,
    rate_with_unit,
)
from invoicing.models import (
    CreditAllocation,
    DocumentSettings,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    PaymentAttempt,
    PaymentAttemptStatus,
)
from invoicing.payments.selectors import card_on_file
from tenancy.selectors import provider_current

COLUMNS = ("period", "region", "description", "resource", "project", "count", "quantity",
           "rate", "amount")
HEADINGS = {"period": "Period", "region": "Region", "description": "Description",
            "resource": "Resource", "project": "Project", "count": "Resources",
            "quantity": "Quantity", "rate": "Rate", "amount": "Amount"}
NUMERIC = ("count", "quantity", "rate", "amount")
STANDARD_CLASS = "standard"
SECONDS_PER = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def document_settings() -> DocumentSettings:
    settings, _ = DocumentSettings.objects.get_or_create(pk=1)
    return settings


@dataclass(frozen=True)
class DocumentRow:
    kind: str
    cells: dict[str, str]

    def values(self) -> list[str]:
        return [self.cells[name] for name in COLUMNS]


@dataclass(frozen=True)
class TotalRow:
    key: str
    label: str
    text: str
    strong: bool = False


@dataclass
class InvoiceDocument:
    title: str
    number: str
    status: str
    is_statement: bool
    locale: str
    currency: str
    zone: str
    headings: list[str]
    rows: list[DocumentRow]
    totals: list[TotalRow]
    meta: list[tuple[str, str]]
    provider: dict[str, str]
    bill_to: dict[str, str]
    settlement: str
    void_reason: str = ""

    @property
    def voided(self) -> bool:
        return self.status == InvoiceStatus.VOID

    def as_json(self) -> dict:
        return {
            "title": self.title, "number": self.number, "status": self.status,
            "currency": self.currency, "locale": self.locale, "zone": self.zone,
            "columns": list(COLUMNS), "headings": self.headings,
            "rows": [{"kind": row.kind, **row.cells} for row in self.rows],
            "totals": [{"key": t.key, "label": t.label, "text": t.text} for t in self.totals],
            "meta": [{"label": label, "text": text} for label, text in self.meta],
            "settlement": self.settlement, "void_reason": self.void_reason,
        }

    def csv_rows(self) -> list[list[str]]:
        """The lines as the PDF prints them (same headings, same strings), then the
        totals in the Amount column."""
        rows = [self.headings, *(row.values() for row in self.rows)]
        blank = [""] * (len(COLUMNS) - 2)
        rows.extend([*blank, total.label, total.text] for total in self.totals)
        return rows


def proration_text(details: dict) -> str:
    """ "10 of 30 days": the active part of the cycle over the cycle, in the largest
    unit both are whole numbers of."""
    proration = details.get("proration") or {}
    active = Decimal(proration.get("seconds", "0"))
    whole = Decimal(proration.get("cycle_seconds", "0"))
    for unit, seconds in SECONDS_PER:
        if active % seconds == 0 and whole % seconds == 0:
            return f"{active / seconds:,f} of {whole / seconds:,f} {unit}s"
    return ""


def resource_text(line: InvoiceLine) -> str:
    label = line.resource_label
    if line.service_class and line.service_class != STANDARD_CLASS:
        return f"{label} ({line.service_class})" if label else line.service_class
    return label


def line_row(line: InvoiceLine, *, currency: str, locale: str, zone: str) -> DocumentRow:
    details = line.details or {}
    credit = line.kind == LineKind.CREDIT
    # A credit gives time back: its quantity is printed negative so the row still reads
    # quantity × rate = amount (the stored line keeps the positive time it covers).
    quantity = -line.quantity if credit else line.quantity
    quantity_cell = quantity_with_unit(quantity, line.unit, locale)
    if line.kind == LineKind.RECURRING and details.get("proration"):
        quantity_cell = proration_text(details) or quantity_cell
    cells = {
        "period": period_text(line.period_start, line.period_end, zone, named=False),
        "region": line.region,
        "description": line.description,
        "resource": resource_text(line),
        "project": line.project_name,
        "count": str(line.resource_count) if line.resource_count else "",
        "quantity": quantity_cell,
        "rate": rate_with_unit(line.rate, currency, line.unit, locale),
        "amount": money_text(line.amount, currency, locale),
    }
    return DocumentRow(kind=line.kind, cells=cells)


def _provider_fields(invoice: Invoice, provider) -> dict[str, str]:
    # logo, tax_id and legal_footer are provider settings being added in tenancy by
    # another change; read them when they exist.
    return {
        "name": invoice.provider_name or provider.name,
        "address": invoice.provider_address or getattr(provider, "address", "") or "",
        "tax_id": getattr(provider, "tax_id", "") or "",
        "legal_footer": getattr(provider, "legal_footer", "") or "",
        "logo": _logo_url(provider),
    }


def _logo_url(provider) -> str:
    """The provider's logo file as a file:// URL, if it has one."""
    logo = getattr(provider, "logo", None)
    try:
        return Path(logo.path).resolve().as_uri() if logo else ""
    except (ValueError, AttributeError, TypeError, NotImplementedError):
        return ""


def _paid(invoice: Invoice) -> Decimal:
    paid = PaymentAttempt.objects.filter(
        invoice=invoice, status=PaymentAttemptStatus.SUCCEEDED).aggregate(s=Sum("amount"))["s"]
    return paid or Decimal(0)


def _allocations(invoice: Invoice) -> list[CreditAllocation]:
    return list(CreditAllocation.objects.filter(invoice=invoice).select_related("credit_note"))


def _totals(invoice: Invoice, *, statement: bool, locale: str,
            allocations: list[CreditAllocation]) -> list[TotalRow]:
    currency = invoice.currency
    money = lambda value: money_text(value, currency, locale)  # noqa: E731
    # The subtotal is the charges before credits (rating keeps it); credits the rest.
    rows = [TotalRow("subtotal", "Subtotal", money(invoice.subtotal)),
            TotalRow("credits", "Credits", money(invoice.total - invoice.subtotal))]
    # Tax: no tax is configured in Tally yet; a row appears only once one is.
    rows.append(TotalRow("total", f"Total ({currency})", money(invoice.total), strong=True))
    applied = sum((a.amount for a in allocations), Decimal(0))
    for allocation in allocations:
        note = allocation.credit_note
        rows.append(TotalRow("credit_note", f"Credit note {note.number} "
                             f"({note.get_reason_display().lower()})", money(-allocation.amount)))
    if statement:
        if allocations:
            rows.append(TotalRow("net", "Net charged back", money(invoice.total - applied),
                                 strong=True))
        return rows
    paid = _paid(invoice)
    due = max(invoice.total - applied - paid, Decimal(0))
    rows.append(TotalRow("paid", "Amount paid", money(paid)))
    rows.append(TotalRow("due", "Amount due", money(due), strong=True))
    return rows


def _settlement(invoice: Invoice, *, statement: bool, account_name: str) -> str:
    if statement:
        return f"Charged back to {account_name}."
    delivery = getattr(invoice, "delivery", None)
    # The card as dj-stripe recorded it: brand and last four digits only.
    on_file = card_on_file(getattr(invoice.billing_account, "payment_profile", None))
    card = (f"{on_file.brand or 'card'} ending in {on_file.last4}" if on_file and on_file.last4
            else "the card on file")
    if invoice.status == InvoiceStatus.DRAFT:
        return f"The total will be charged to {card} when this invoice is issued."
    state = delivery.get_payment_status_display() if delivery else "Pending"
    return f"Payment: {state}. Charged to {card}."


def invoice_document(*, invoice: Invoice) -> InvoiceDocument:
    """What an invoice prints, as plain strings, in the order every rendering uses."""
    provider = provider_current()
    zone = provider.billing_timezone
    settings = document_settings()
    locale = locale_or_default(settings.locale)
    account = invoice.billing_account
    statement = account.payment_kind == PaymentKind.CHARGEBACK
    lines = list(invoice.lines.all().order_by("sort_key", "id"))
    rows = [line_row(line, currency=invoice.currency, locale=locale, zone=zone)
            for line in lines]
    allocations = _allocations(invoice)
    account_name = invoice.account_name or account.name
    organization = invoice.organization_name or str(account.organization)
    title = "Statement" if statement else "Invoice"
    meta = [(f"{title} number", invoice.number or "Draft"),
            ("Period", period_text(invoice.cycle.start, invoice.cycle.end, zone))]
    if invoice.issued_at:
        meta.append(("Issue date", date_text(invoice.issued_at, zone)))
    if not statement and invoice.due_at:
        meta.append(("Due date", date_text(invoice.due_at, zone)))
    meta.append(("Currency", invoice.currency))
    if provider_tax := getattr(provider, "tax_id", ""):
        meta.append(("Tax id", provider_tax))
    headings = [HEADINGS[name] for name in COLUMNS]
    headings[0] = f"Period ({zone})"
    return InvoiceDocument(
        title=title, number=invoice.number or "", status=invoice.status,
        is_statement=statement, locale=locale, currency=invoice.currency, zone=zone,
        headings=headings, rows=rows,
        totals=_totals(invoice, statement=statement, locale=locale,
                       allocations=allocations),
        meta=meta, provider=_provider_fields(invoice, provider),
        bill_to={"account": account_name, "organization": organization},
        settlement=_settlement(invoice, statement=statement,
                               account_name=f"{account_name} ({organization})"),
        void_reason=invoice.void_reason if invoice.status == InvoiceStatus.VOID else "",
    )
