"""Closing a cycle: freeze it, rate it one last time, finalize and number its invoices.

One service function serves the operator command (`manage.py close_cycles`) and
the Celery beat job. Finalization is set-based: a batch of drafts is finalized in a
few statements in one transaction, holding the provider's counter row:

1. the counter row is locked (`SELECT ... FOR UPDATE`): closers of any cycle, and
   `invoice_finalize`, queue on it, always before they lock an invoice;
2. one `UPDATE ... FROM` locks the next drafts of the cycle in billing-account
   order, numbers them `last_sequence + row_number()` and snapshots the names they
   print (account, organization, provider);
3. the counter advances by the batch's size, the batch's delivery rows are inserted
   in one statement, and their delivery (PDF, email, payment) is queued after commit.

A run killed at any point and started again finalizes each invoice once, with no gap
in the numbers: a batch commits whole or not at all, counter included. Re-runs, and
closers running at once, find only the drafts still left.

The last rating run before finalizing is incremental when the cycle was already
rated up to its end and no priced input changed since (invoicing.rating_inputs):
it rewrites only the drafts of accounts that received usage since that run.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F

from accounts.models import BillingAccount, Organization, PaymentKind
from core.errors import Conflict
from core.locks import usage_lock_exclusive
from cycles.models import BillingCycle, CycleStatus
from invoicing.credit_notes import account_credit_apply
from invoicing.delivery import (
    deliveries_start_after_commit,
    delivery_pdf_again_after_commit,
    delivery_start_after_commit,
)
from invoicing.models import CreditNote, Invoice, InvoiceCounter, InvoiceStatus
from invoicing.rating_inputs import rating_incremental_since
from invoicing.rating_run import rating_run
from tenancy.selectors import provider_current

logger = logging.getLogger(__name__)

PAYMENT_TERMS = timedelta(days=30)
# Invoices finalized per transaction: large enough that a close of 10,000 accounts is
# a few dozen statements, small enough that a batch's locks and WAL stay modest.
FINALIZE_BATCH = 1000
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


def cycle_close(*, cycle: BillingCycle, now: datetime,
                batch_size: int = FINALIZE_BATCH) -> CloseResult:
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
    rating_run(cycle=cycle, now=now, usage_since=rating_incremental_since(cycle=cycle))

    finalized = 0
    while batch := invoices_finalize_batch(cycle=cycle, now=now, limit=batch_size):
        finalized += len(batch)

    with transaction.atomic():
        closed = not Invoice.objects.filter(cycle=cycle, status=InvoiceStatus.DRAFT).exists()
        if closed:
            BillingCycle.objects.filter(pk=cycle.pk).exclude(status=CycleStatus.CLOSED).update(
                status=CycleStatus.CLOSED, closed_at=now
            )
    logger.info("closed cycle %s: %d invoices finalized", cycle.label, finalized)
    return CloseResult(cycle=cycle.label, finalized=finalized, closed=closed)


_FINALIZE_SQL = """
    WITH picked AS (
        SELECT i.id, i.billing_account_id FROM {invoice} i
        WHERE i.cycle_id = %(cycle)s AND i.status = %(draft)s
        ORDER BY i.billing_account_id LIMIT %(limit)s
        FOR UPDATE OF i
    ), numbered AS (
        SELECT p.id, %(base)s + row_number() OVER (ORDER BY p.billing_account_id) AS seq,
               a.name AS account_name, a.payment_kind,
               COALESCE(NULLIF(o.display_name, ''), o.name) AS organization_name
        FROM picked p
        JOIN {account} a ON a.id = p.billing_account_id
        JOIN {organization} o ON o.id = a.organization_id
    )
    UPDATE {invoice} i
    SET status = %(finalized)s, sequence = n.seq,
        number = %(prefix)s || lpad(n.seq::text, greatest(6, length(n.seq::text)), '0'),
        account_name = n.account_name, organization_name = n.organization_name,
        provider_name = %(provider_name)s, provider_address = %(provider_address)s,
        issued_at = %(now)s,
        -- A statement (chargeback) is not paid: it has no due date.
        due_at = CASE WHEN n.payment_kind = %(chargeback)s THEN NULL ELSE %(due)s END
    FROM numbered n WHERE i.id = n.id
    RETURNING i.id
"""


def invoices_finalize_batch(*, cycle: BillingCycle, now: datetime, limit: int) -> list[int]:
    """Finalize and number up to `limit` drafts of `cycle` (billing-account order) in
    one transaction; returns their ids (none left: an empty list)."""
    provider = provider_current()
    sql = _FINALIZE_SQL.format(invoice=Invoice._meta.db_table,
                               account=BillingAccount._meta.db_table,
                               organization=Organization._meta.db_table)
    with transaction.atomic():
        base = _counter_locked()
        with connection.cursor() as cursor:
            cursor.execute(sql, {
                "cycle": cycle.pk, "draft": InvoiceStatus.DRAFT, "limit": limit, "base": base,
                "finalized": InvoiceStatus.FINALIZED, "prefix": f"{provider.slug.upper()}-",
                "provider_name": provider.name, "provider_address": provider.address,
                "now": now, "due": now + PAYMENT_TERMS, "chargeback": PaymentKind.CHARGEBACK,
            })
            ids = [row[0] for row in cursor.fetchall()]
        if ids:
            InvoiceCounter.objects.filter(name="invoices").update(
                last_sequence=F("last_sequence") + len(ids)
            )
            _account_credit_apply_batch(invoice_ids=ids, now=now)
            deliveries_start_after_commit(invoice_ids=ids)
    return ids


def _account_credit_apply_batch(*, invoice_ids: list[int], now: datetime) -> None:
    """Credit notes not yet used (a paid invoice's, a statement's) come off the invoices
    just finalized: one query finds the few accounts that have any."""
    accounts = Invoice.objects.filter(pk__in=invoice_ids).values("billing_account_id")
    with_notes = set(CreditNote.objects.filter(billing_account_id__in=accounts)
                     .values_list("billing_account_id", flat=True))
    if not with_notes:
        return
    for invoice in Invoice.objects.filter(pk__in=invoice_ids, billing_account_id__in=with_notes):
        account_credit_apply(invoice=invoice, now=now)


def _counter_locked() -> int:
    """Lock the provider's counter row (first, always: the one lock order of numbering)
    and return its last sequence."""
    return (InvoiceCounter.objects.select_for_update().filter(name="invoices")
            .values_list("last_sequence", flat=True).get())


def invoice_finalize(*, invoice_id: int, now: datetime) -> bool:
    """Freeze one draft invoice, give it the next number. False if it was not a draft."""
    provider = provider_current()
    with transaction.atomic():
        # The counter first, then the invoice, as the batches do: finalizations queue
        # on the counter and take consecutive numbers; a rollback takes the number
        # back with it, so there are no gaps.
        sequence = _counter_locked() + 1
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("billing_account__organization")
            .get(pk=invoice_id)
        )
        if invoice.status != InvoiceStatus.DRAFT:
            return False
        InvoiceCounter.objects.filter(name="invoices").update(last_sequence=sequence)
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
