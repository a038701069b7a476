"""A credit note's PDF and email, after the transaction that issued it.

The PDF is rendered outside any transaction, once, to a deterministic path
(`MEDIA_ROOT/<schema>/credit-notes/<number>.pdf`, written to a temporary file and
linked into place); the email goes through the outbox, one row per recipient keyed
`credit_note:<pk>:<email>`, so running this twice sends nothing twice.
"""

import os
import tempfile
from datetime import datetime
from pathlib import Path

from django.db import connection, transaction
from django.template.loader import render_to_string

from accounts.models import PaymentKind
from core.timefmt import date_text
from invoicing.delivery import document_link
from invoicing.formatting import locale_or_default, money_text, quantity_with_unit, rate_with_unit
from invoicing.models import CreditNote
from invoicing.pdf import LOGO, html_to_pdf, pdf_absolute_path
from invoicing.presenter import document_settings
from invoicing.selectors import credit_note_unallocated
from notifications.outbox import outbox_enqueue
from notifications.selectors import invoice_email_recipients
from tenancy.selectors import provider_current


def credit_note_context(note: CreditNote) -> dict:
    """What a credit note prints, as strings in the provider's locale."""
    provider = provider_current()
    zone = provider.billing_timezone
    locale = locale_or_default(document_settings().locale)
    invoice = note.invoice
    money = lambda value: money_text(value, note.currency, locale)  # noqa: E731
    statement = note.billing_account.payment_kind == PaymentKind.CHARGEBACK
    rows = [{"description": line.description,
             "quantity": quantity_with_unit(line.quantity, line.unit, locale),
             "rate": rate_with_unit(line.rate, note.currency, line.unit, locale),
             "amount": money(line.amount)} for line in note.lines.all()]
    allocations = [(f"Applied to {a.invoice.number}", money(-a.amount))
                   for a in note.allocations.select_related("invoice")]
    left = credit_note_unallocated(credit_note=note)
    return {
        "note": note, "invoice": invoice, "rows": rows, "allocations": allocations,
        "total": money(note.total), "account_credit": money(left) if left > 0 else "",
        "next_document": "statement" if statement else "invoice",
        "issued": date_text(note.issued_at, zone), "reason": note.get_reason_display(),
        "provider_name": invoice.provider_name or provider.name,
        "provider_address": invoice.provider_address or getattr(provider, "address", ""),
        "tax_id": getattr(provider, "tax_id", "") or "",
        "legal_footer": getattr(provider, "legal_footer", "") or "",
        "account_name": invoice.account_name or note.billing_account.name,
        "organization_name": invoice.organization_name,
        "logo": LOGO.resolve().as_uri(),
        "link": document_link(f"/invoices/{invoice.pk}/"),
    }


def credit_note_relative_path(note: CreditNote) -> str:
    safe = "".join(c for c in note.number if c.isalnum() or c in "-_")
    return f"{connection.schema_name}/credit-notes/{safe}.pdf"


def credit_note_pdf_store(*, note: CreditNote) -> Path:
    """The credit note's PDF, rendered once (a file already there is the one)."""
    target = pdf_absolute_path(credit_note_relative_path(note))
    if target.is_file():
        return target
    data = html_to_pdf(render_to_string("invoices/credit_note.html", credit_note_context(note)))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".rendering-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        try:
            os.link(temp, target)  # another renderer got there first: theirs stays
        except FileExistsError:
            pass
    finally:
        os.unlink(temp)
    return target


def credit_note_deliver(*, credit_note_id: int, now: datetime) -> int:
    """Render the PDF, then queue the email to the account's recipients once.
    Returns how many emails were queued."""
    note = CreditNote.objects.select_related("invoice__cycle", "billing_account").get(
        pk=credit_note_id)
    if not note.pdf_path:
        credit_note_pdf_store(note=note)
        CreditNote.objects.filter(pk=note.pk, pdf_path="").update(
            pdf_path=credit_note_relative_path(note))
    with transaction.atomic():
        note = CreditNote.objects.select_for_update(of=("self",)).select_related(
            "invoice", "billing_account").get(pk=credit_note_id)
        if note.emailed_at is not None:
            return 0
        context = credit_note_context(note)
        attachment = (f"{note.number}.pdf", "application/pdf",
                      str(pdf_absolute_path(note.pdf_path)))
        recipients = invoice_email_recipients(note.billing_account)
        for email in recipients:
            outbox_enqueue(
                key=f"credit_note:{note.pk}:{email.lower()}", to=email,
                subject=f"{context['provider_name']}: credit note {note.number} "
                        f"for {note.invoice.number} ({context['total']})",
                text=render_to_string("emails/credit_note.txt", context),
                html=render_to_string("emails/credit_note.html", context),
                attachments=[attachment],
            )
        note.emailed_at = now
        note.save(update_fields=["emailed_at"])
    return len(recipients)
