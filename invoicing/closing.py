"""Closing a cycle: freeze it, rate it one last time, finalize and number its invoices.

One service function serves the operator command (`manage.py close_cycles`) and
the Celery beat job. Every step is idempotent and resumable: a run killed at
any point and started again finalizes each invoice once, with no gap in the
numbers, because each invoice is finalized in its own short transaction that
also advances the provider's counter row.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from accounts.models import PaymentKind
from core.errors import Conflict
from core.locks import usage_lock_exclusive
from cycles.models import BillingCycle, CycleStatus
from invoicing.credit_notes import account_credit_apply
from invoicing.delivery import delivery_pdf_again_after_commit, delivery_start_after_commit
from invoicing.models import Invoice, InvoiceCounter, InvoiceStatus
from invoicing.rating_run import rating_run
from tenancy.selectors import provider_current

logger = logging.getLogger(__name__)

PAYMENT_TERMS = timedelta(days=30)
CYCLE_NOT_DUE = "cycle {label} can be closed from {due:%Y-%m-%d %H:%M} UTC (its end plus grace)"
VOID_NEEDS_REASON = "voiding an invoice needs a reason"
VOID_ONLY_FINALIZED = "only a finalized invoice can be voided; this one is {status}"


@dataclass(frozen=True)
class CloseResult:
    cycle: str
    finalized: int
    closed: bool


def cycle_close_due_at(cycle: BillingCycle) -> datetime:
    return cycle.end + provider_current().grace_period


def cycles_due_for_closing(*, now: datetime) -> list[BillingCycle]:
    grace = provider_current().grace_period
    return list(
        BillingCycle.objects.filter(
            status__in=(CycleStatus.OPEN, CycleStatus.CLOSING), end__lte=now - grace
        ).order_by("start")
    )


def cycle_close(*, cycle: BillingCycle, now: datetime) -> CloseResult:
    """Finalize every invoice of `cycle`; a closed cycle is left as it is."""
    due = cycle_close_due_at(cycle)
    if now < due:
        raise Conflict({"cycle": [CYCLE_NOT_DUE.format(label=cycle.label, due=due)]})
    if cycle.status == CycleStatus.CLOSED:
        return CloseResult(cycle=cycle.label, finalized=0, closed=True)

    with transaction.atomic():
        # Waits for ingestion batches in flight; later ones see the cycle closing.
        usage_lock_exclusive()
        BillingCycle.objects.filter(pk=cycle.pk, status=CycleStatus.OPEN).update(
            status=CycleStatus.CLOSING
        )
    # The last rating: usage and prices of the cycle can no longer change. Budgets
    # crossed only by it still alert (the run publishes cycle_rated).
    rating_run(cycle=cycle, now=now)

    finalized = 0
    draft_ids = list(
        Invoice.objects.filter(cycle=cycle, status=InvoiceStatus.DRAFT)
        .order_by("billing_account_id")
        .values_list("pk", flat=True)
    )
    for invoice_id in draft_ids:
        if invoice_finalize(invoice_id=invoice_id, now=now):
            finalized += 1

    with transaction.atomic():
        closed = not Invoice.objects.filter(cycle=cycle, status=InvoiceStatus.DRAFT).exists()
        if closed:
            BillingCycle.objects.filter(pk=cycle.pk).exclude(status=CycleStatus.CLOSED).update(
                status=CycleStatus.CLOSED, closed_at=now
            )
    logger.info("closed cycle %s: %d invoices finalized", cycle.label, finalized)
    return CloseResult(cycle=cycle.label, finalized=finalized, closed=closed)


def invoice_finalize(*, invoice_id: int, now: datetime) -> bool:
    """Freeze one draft invoice, give it the next number. False if it was not a draft."""
    provider = provider_current()
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("billing_account__organization")
            .get(pk=invoice_id)
        )
        if invoice.status != InvoiceStatus.DRAFT:
            return False
        # Locked after the invoice, always in this order: concurrent finalizations
        # queue on the counter and take consecutive numbers; a rollback takes the
        # number back with it, so there are no gaps.
        InvoiceCounter.objects.filter(name="invoices").update(
            last_sequence=F("last_sequence") + 1
        )
        sequence = InvoiceCounter.objects.get(name="invoices").last_sequence
        account = invoice.billing_account
        invoice.status = InvoiceStatus.FINALIZED
        invoice.sequence = sequence
        invoice.number = f"{provider.slug.upper()}-{sequence:06d}"
        invoice.account_name = account.name
        invoice.organization_name = account.organization.display_name or account.organization.name
        invoice.provider_name = provider.name
        invoice.provider_address = provider.address
        invoice.issued_at = now
        # A statement (chargeback) is not paid: it has no due date.
        charged_back = account.payment_kind == PaymentKind.CHARGEBACK
        invoice.due_at = None if charged_back else now + PAYMENT_TERMS
        invoice.save()
        # Credit notes not yet used (a paid invoice's, a statement's) come off this one.
        account_credit_apply(invoice=invoice, now=now)
        delivery_start_after_commit(invoice_id=invoice.pk)  # PDF, email, payment after commit
    return True


def invoice_void(*, invoice: Invoice, reason: str, now: datetime) -> Invoice:
    """Void a finalized invoice. Its number stays taken; its lines stay as issued."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [VOID_NEEDS_REASON]})
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if locked.status != InvoiceStatus.FINALIZED:
            raise Conflict(
                {"status": [VOID_ONLY_FINALIZED.format(status=locked.get_status_display())]}
            )
        locked.status = InvoiceStatus.VOID
        locked.void_reason = reason
        locked.voided_at = now
        locked.save(update_fields=["status", "void_reason", "voided_at"])
        # The stored PDF is rendered again, with the VOID mark and the reason.
        delivery_pdf_again_after_commit(invoice_id=locked.pk)
    return locked
