"""Credit notes: corrections of a finalized invoice that leave the invoice as issued.

`credit_note_issue` credits a finalized invoice in full, by line (all of a line or part
of its quantity) or by an amount, with a reason. In one short transaction it locks the
invoice, then the "credit_notes" counter row (always in that order, as finalization
locks an invoice before its counter), so concurrent issuers queue on the counter and
take consecutive numbers: a rolled-back issue takes its number back, so there are no
gaps. What an invoice can still be credited is its total less the credit notes already
issued against it.

Where the value goes (`_allocate_new`): an unpaid card invoice has its amount due
reduced; a paid invoice, or a statement (chargeback, nothing is paid), leaves it as
account credit, which `account_credit_apply` allocates to the account's next invoice or
statement when that one is finalized. The PDF and the email follow after commit
(invoicing/credit_note_delivery.py).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum

from accounts.models import PaymentKind
from core.errors import Conflict
from core.money import round_money
from invoicing.credit_note_models import CREDIT_NOTE_COUNTER
from invoicing.models import (
    CreditAllocation,
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
    Invoice,
    InvoiceCounter,
    InvoiceDelivery,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    PaymentStatus,
)
from invoicing.selectors import credit_applied_to, credit_note_unallocated
from tenancy.jobs import queue_after_commit
from tenancy.selectors import provider_current

DELIVER_TASK = "invoicing.tasks.credit_note_deliver"
ONLY_FINALIZED = "only a finalized invoice can be credited; this one is {status}"
NOTHING_LEFT = "this invoice is fully credited already"
TOO_MUCH = "credits {amount} but only {left} of this invoice is left to credit"
LINE_NOT_ON_INVOICE = "line {line} is not a line of this invoice"
LINE_NOT_CREDITABLE = "line {line} is a credit, not a charge"
LINE_QUANTITY_TOO_BIG = "line {line} has {left} left to credit"
ONE_WAY = "give either lines or an amount, or neither for a full credit note"
AMOUNT_POSITIVE = "the amount must be more than zero"
UNKNOWN_REASON = "one of: {choices}"


@dataclass(frozen=True)
class LineCredit:
    """Credit `quantity` of invoice line `line_id` (None: all that is left of it)."""

    line_id: int
    quantity: Decimal | None = None


def _counter_next() -> int:
    InvoiceCounter.objects.get_or_create(name=CREDIT_NOTE_COUNTER)
    InvoiceCounter.objects.filter(name=CREDIT_NOTE_COUNTER).update(
        last_sequence=F("last_sequence") + 1)
    return InvoiceCounter.objects.get(name=CREDIT_NOTE_COUNTER).last_sequence


def _credited_per_line(invoice: Invoice) -> dict[int, tuple[Decimal, Decimal]]:
    rows = (CreditNoteLine.objects.filter(credit_note__invoice=invoice,
                                          invoice_line__isnull=False)
            .values("invoice_line_id").annotate(q=Sum("quantity"), a=Sum("amount")))
    return {row["invoice_line_id"]: (row["q"], row["a"]) for row in rows}


def _line_credit(line: InvoiceLine, quantity: Decimal | None,
                 credited: tuple[Decimal, Decimal], currency: str) -> CreditNoteLine:
    done_quantity, done_amount = credited
    left_quantity, left_amount = line.quantity - done_quantity, line.amount - done_amount
    if line.kind == LineKind.CREDIT or line.amount <= 0:
        raise ValidationError({"lines": [LINE_NOT_CREDITABLE.format(line=line.pk)]})
    if quantity is None or quantity == left_quantity:
        quantity, amount = left_quantity, left_amount
    else:
        if quantity <= 0 or quantity > left_quantity:
            raise ValidationError({"lines": [LINE_QUANTITY_TOO_BIG.format(
                line=line.pk, left=format(left_quantity.normalize(), "f"))]})
        amount = round_money(quantity * line.rate, currency)
    if amount <= 0:
        raise ValidationError({"lines": [LINE_QUANTITY_TOO_BIG.format(line=line.pk, left=0)]})
    return CreditNoteLine(invoice_line=line, description=line.description[:300],
                          quantity=quantity, unit=line.unit, rate=line.rate, amount=amount)


def _amount_line(invoice: Invoice, amount: Decimal) -> CreditNoteLine:
    return CreditNoteLine(description=f"Credit on {invoice.number}", quantity=Decimal(1),
                          rate=amount, amount=amount)


def _requested_lines(invoice: Invoice, *, lines: list[LineCredit] | None,
                     amount: Decimal | None, left: Decimal) -> list[CreditNoteLine]:
    if lines and amount is not None:
        raise ValidationError({"lines": [ONE_WAY]})
    if amount is not None:
        amount = round_money(amount, invoice.currency)
        if amount <= 0:
            raise ValidationError({"amount": [AMOUNT_POSITIVE]})
        return [_amount_line(invoice, amount)]
    if not lines:
        # Full: every line as issued when nothing was credited yet, else what is left.
        if left == invoice.total:
            return [CreditNoteLine(invoice_line=line, description=line.description[:300],
                                   quantity=line.quantity, unit=line.unit, rate=line.rate,
                                   amount=-line.amount if line.kind == LineKind.CREDIT
                                   else line.amount)
                    for line in invoice.lines.order_by("sort_key", "id")]
        return [_amount_line(invoice, left)]
    by_id = {line.pk: line for line in invoice.lines.filter(pk__in=[i.line_id for i in lines])}
    credited = _credited_per_line(invoice)
    result = []
    for item in lines:
        line = by_id.get(item.line_id)
        if line is None:
            raise ValidationError({"lines": [LINE_NOT_ON_INVOICE.format(line=item.line_id)]})
        result.append(_line_credit(line, item.quantity, credited.get(line.pk, (0, 0)),
                                   invoice.currency))
    return result


def _signed_sum(lines: list[CreditNoteLine]) -> Decimal:
    # A full credit note copies the invoice's SLA credits too: they give back less.
    total = Decimal(0)
    for line in lines:
        is_credit = line.invoice_line is not None and line.invoice_line.kind == LineKind.CREDIT
        total += -line.amount if is_credit else line.amount
    return total


def credit_note_issue(*, invoice_id: int, reason: str, memo: str = "",
                      lines: list[LineCredit] | None = None, amount: Decimal | None = None,
                      now: datetime, actor=None) -> CreditNote:
    """Issue a credit note against a finalized invoice; see the module docstring."""
    if reason not in CreditNoteReason.values:
        raise ValidationError({"reason": [UNKNOWN_REASON.format(
            choices=", ".join(CreditNoteReason.values))]})
    provider = provider_current()
    with transaction.atomic():
        invoice = (Invoice.objects.select_for_update(of=("self",))
                   .select_related("billing_account").get(pk=invoice_id))
        if invoice.status != InvoiceStatus.FINALIZED:
            raise Conflict({"status": [ONLY_FINALIZED.format(
                status=invoice.get_status_display().lower())]})
        issued = invoice.credit_notes.aggregate(s=Sum("total"))["s"] or Decimal(0)
        left = invoice.total - issued
        if left <= 0:
            raise Conflict({"invoice": [NOTHING_LEFT]})
        note_lines = _requested_lines(invoice, lines=lines, amount=amount, left=left)
        total = _signed_sum(note_lines)
        if total > left or total <= 0:
            raise Conflict({"amount": [TOO_MUCH.format(amount=total, left=left)]})
        sequence = _counter_next()
        note = CreditNote.objects.create(
            invoice=invoice, billing_account=invoice.billing_account, sequence=sequence,
            number=f"{provider.slug.upper()}-CN-{sequence:06d}", currency=invoice.currency,
            reason=reason, memo=memo, total=total, issued_at=now,
            created_by=actor if getattr(actor, "pk", None) else None)
        for line in note_lines:
            line.credit_note = note
        CreditNoteLine.objects.bulk_create(note_lines)
        _allocate_new(note, invoice, now=now)
        queue_after_commit(DELIVER_TASK, note.pk)
    return note


def _allocate_new(note: CreditNote, invoice: Invoice, *, now: datetime) -> None:
    """An unpaid card invoice: reduce what is due on it. Otherwise: account credit."""
    if invoice.billing_account.payment_kind != PaymentKind.CARD:
        return  # a statement: shown on the next one
    delivery = InvoiceDelivery.objects.filter(invoice=invoice).first()
    if delivery is not None and delivery.payment_status == PaymentStatus.PAID:
        return
    due = invoice.total - credit_applied_to(invoice_id=invoice.pk)
    amount = min(note.total, due)
    if amount > 0:
        CreditAllocation.objects.create(credit_note=note, invoice=invoice, amount=amount,
                                        created_at=now)


def account_credit_apply(*, invoice: Invoice, now: datetime) -> Decimal:
    """Inside the transaction that finalizes `invoice`: allocate the account's unused
    credit notes to it, oldest first, up to its total. Returns the amount applied."""
    room = invoice.total - credit_applied_to(invoice_id=invoice.pk)
    applied = Decimal(0)
    if room <= 0:
        return applied
    notes = (CreditNote.objects.select_for_update()
             .filter(billing_account_id=invoice.billing_account_id)
             .exclude(invoice=invoice).order_by("sequence"))
    for note in notes:
        available = credit_note_unallocated(credit_note=note)
        amount = min(available, room - applied)
        if amount <= 0:
            continue
        CreditAllocation.objects.create(credit_note=note, invoice=invoice, amount=amount,
                                        created_at=now)
        applied += amount
        if applied >= room:
            break
    return applied
