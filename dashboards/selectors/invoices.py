"""Invoices on the pages: an organization's upcoming and past invoices, one invoice the
caller may see with its lines and PDF, and the invoices whose delivery needs an
operator's attention."""

from datetime import datetime
from pathlib import Path

from django.db.models import QuerySet
from django.http import Http404

from accounts.access import Access
from accounts.models import Organization
from core.replica import read_alias
from cycles.models import BillingCycle
from dashboards.selectors.billing_cycles import cycle_is_open
from invoicing.delivery import deliveries_with_problems, invoice_pdf_file
from invoicing.forecast import ForecastLine, lines_forecast
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus
from invoicing.selectors import invoice_list

ATTENTION_LABELS = {
    "pdf": "PDF failed", "email": "Email failed", "payment": "Payment failed",
}


def upcoming_invoices(*, organization: Organization, cycle: BillingCycle | None
                      ) -> list[Invoice]:
    """The drafts of the open cycle for the organization's billing accounts, each with
    its `forecast` at the cycle's end: the upcoming invoice API's (`invoicing.forecast`).
    Two queries."""
    if not cycle_is_open(cycle):
        return []
    invoices = list(
        invoice_list(organization_ids=[organization.pk], status=InvoiceStatus.DRAFT,
                     using=read_alias())
        .filter(cycle=cycle).order_by("billing_account__name")
    )
    by_invoice: dict[int, list[ForecastLine]] = {invoice.pk: [] for invoice in invoices}
    rated = {invoice.pk: invoice.rated_at for invoice in invoices}
    rows = InvoiceLine.objects.using(read_alias()).filter(invoice_id__in=list(rated)).values_list(
        "invoice_id", "kind", "metric_key", "amount", "details")
    for invoice_id, kind, metric_key, amount, details in rows:
        by_invoice[invoice_id].append(ForecastLine(
            invoice_id=invoice_id, kind=kind, metric_key=metric_key or "", amount=amount,
            details=details or {}, rated_at=rated[invoice_id]))
    for invoice in invoices:
        invoice.forecast = lines_forecast(cycle=cycle, lines=by_invoice[invoice.pk],
                                          currency=invoice.currency)[1]
    return invoices


def past_invoices(*, organization: Organization) -> QuerySet[Invoice]:
    """The organization's issued invoices (finalized and void), newest first."""
    return (
        invoice_list(organization_ids=[organization.pk], using=read_alias())
        .exclude(status=InvoiceStatus.DRAFT).select_related("delivery")
    ).order_by("-cycle__start", "billing_account__name", "pk")


def invoice_visible(*, access: Access, invoice_id: int) -> Invoice:
    """One invoice the caller may see (fleet roles; org roles on its organization):
    Http404 otherwise."""
    org_ids = None if access.sees_fleet else access.org_ids
    invoices = invoice_list(organization_ids=org_ids, using=read_alias()).select_related(
        "delivery")
    invoice = invoices.filter(pk=invoice_id).first()
    if invoice is None:
        raise Http404(f"no invoice {invoice_id}")
    return invoice


def invoice_lines(*, invoice: Invoice) -> QuerySet[InvoiceLine]:
    return InvoiceLine.objects.using(read_alias()).filter(invoice=invoice).order_by(
        "sort_key", "id")


def invoice_pdf_path(*, invoice: Invoice, now: datetime) -> Path | None:
    """The stored PDF of an issued invoice (an absolute Path), the same file the API's
    `GET /api/v1/invoices/{id}/pdf` serves; None for a draft or a PDF that cannot be
    rendered now."""
    if invoice.status == InvoiceStatus.DRAFT:
        return None
    return invoice_pdf_file(invoice_id=invoice.pk, now=now)


def invoice_pdf_ready(invoice: Invoice) -> bool:
    """Whether an issued invoice has a PDF to download: rendered, or still to render
    (the download renders it on demand); not for drafts nor after rendering failed."""
    if invoice.status == InvoiceStatus.DRAFT:
        return False
    delivery = getattr(invoice, "delivery", None)
    return delivery is None or delivery.pdf_status in ("pending", "done")


def invoices_needing_attention() -> QuerySet[Invoice]:
    """Finalized invoices whose PDF, email or payment failed, newest first."""
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
