"""The pipeline a finalized invoice goes through: PDF, email, payment.

Each step is picked by state (`InvoiceDelivery.*_status`) and moves it forward with a
conditional update, so it can run any number of times, from the task queued after
finalization or from the beat sweeps, and resume after a worker died anywhere:
- PDF: rendered outside transactions to a deterministic path; a file already there is
  the invoice's PDF (it is never rendered twice).
- Email: one outbox row per contact, keyed `invoice:<pk>:<email>`, written in the same
  transaction that marks the step done.
- Payment: see invoicing/payments/collection.py (attempt row before the Stripe call,
  idempotency key).

A step failing `TALLY_DELIVERY_MAX_FAILURES` times in a row is marked failed with its
error, shown in the invoice admin, and retried from there (`delivery_retry`).
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string

from accounts.models import BillingContact, PaymentKind
from core.timefmt import date_text, period_text
from invoicing.formatting import locale_or_default, money_text
from invoicing.models import (
    Invoice,
    InvoiceDelivery,
    InvoiceStatus,
    PaymentStatus,
    StepStatus,
)
from invoicing.payments.collection import (
    PaymentRetryLater,
    invoice_payment_collect,
    payment_retry_now,
    payments_due,
)
from invoicing.pdf import invoice_pdf_store, pdf_absolute_path
from invoicing.presenter import document_settings
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import outbox_enqueue, outbox_retry
from notifications.selectors import invoice_email_recipients
from tenancy.jobs import queue_after_commit
from tenancy.selectors import provider_current

logger = logging.getLogger(__name__)

DELIVER_TASK = "invoicing.tasks.invoice_deliver"
QUEUE_TASK = "invoicing.tasks.deliveries_queue"
PDF_NOT_READY = "the PDF of this invoice is not rendered yet"


def email_key(*, invoice_id: int, email: str) -> str:
    return f"invoice:{invoice_id}:{email.lower()}"


def _queue_pipeline(invoice_id: int, schema_name: str) -> None:
    current_app.send_task(DELIVER_TASK, args=(invoice_id,), headers={"_schema_name": schema_name})


def delivery_start_after_commit(*, invoice_id: int) -> None:
    """Called inside the transaction that finalizes an invoice: opens its delivery row
    with it, and queues the pipeline once that transaction has committed."""
    InvoiceDelivery.objects.get_or_create(invoice_id=invoice_id)
    schema_name = connection.schema_name
    transaction.on_commit(lambda: _queue_pipeline(invoice_id, schema_name))


def delivery_pdf_again_after_commit(*, invoice_id: int) -> None:
    """Inside the transaction that voids an invoice: its PDF step starts over (the void
    PDF, with its mark, goes to a path of its own; the original file stays), and the
    pipeline runs after commit. Emails already sent are not sent again."""
    InvoiceDelivery.objects.get_or_create(invoice_id=invoice_id)
    InvoiceDelivery.objects.filter(invoice_id=invoice_id).update(
        pdf_status=StepStatus.PENDING)
    schema_name = connection.schema_name
    transaction.on_commit(lambda: _queue_pipeline(invoice_id, schema_name))
def deliveries_start_after_commit(*, invoice_ids: list[int]) -> None:
    """`delivery_start_after_commit` for a batch of invoices finalized in the current
    transaction: their delivery rows in one statement, and after commit one task that
    queues their pipelines from a worker (a close does not wait on the broker once per
    invoice)."""
    InvoiceDelivery.objects.bulk_create([InvoiceDelivery(invoice_id=pk) for pk in invoice_ids],
                                        ignore_conflicts=True)
    queue_after_commit(QUEUE_TASK, list(invoice_ids))


def deliveries_queue(*, invoice_ids: list[int]) -> int:
    """Queue the delivery pipeline of each of `invoice_ids`, through one broker
    connection. A broker that fails half way loses no delivery: the beat sweeps render,
    email and collect whatever is still pending."""
    schema_name = connection.schema_name
    with current_app.producer_or_acquire() as producer:
        for invoice_id in invoice_ids:
            current_app.send_task(DELIVER_TASK, args=(invoice_id,),
                                  headers={"_schema_name": schema_name}, producer=producer)
    return len(invoice_ids)


def deliveries_open_missing() -> int:
    """Delivery rows for finalized invoices that have none (finalized before this
    pipeline existed, or by code that did not open one). Returns how many."""
    missing = Invoice.objects.filter(
        status=InvoiceStatus.FINALIZED, delivery__isnull=True
    ).values_list("pk", flat=True)
    rows = [InvoiceDelivery(invoice_id=pk) for pk in missing]
    InvoiceDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _step_failed(invoice_id: int, step: str, error: Exception | str, now: datetime) -> None:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    status_field = f"{step}_status"
    with transaction.atomic():
        delivery = InvoiceDelivery.objects.select_for_update().get(invoice_id=invoice_id)
        failures = delivery.step_failures + 1 if delivery.failed_step == step else 1
        delivery.failed_step = step
        delivery.step_failures = failures
        delivery.last_error = text[:2000]
        delivery.last_error_at = now
        if failures >= settings.TALLY_DELIVERY_MAX_FAILURES and step in ("pdf", "email"):
            setattr(delivery, status_field, StepStatus.FAILED)
        delivery.save()
    logger.warning("invoice %s: %s step failed (%d): %s", invoice_id, step, failures, text)


def _clear_failure(invoice_id: int, step: str) -> None:
    InvoiceDelivery.objects.filter(invoice_id=invoice_id, failed_step=step).update(
        failed_step="", step_failures=0, last_error="", last_error_at=None
    )


def invoice_pdf_render(*, invoice_id: int, now: datetime) -> bool:
    """Render and store the invoice's PDF if it is still pending. True if this call did."""
    delivery = InvoiceDelivery.objects.select_related(
        "invoice__cycle", "invoice__billing_account__organization"
    ).get(invoice_id=invoice_id)
    if delivery.pdf_status != StepStatus.PENDING:
        return False
    invoice = delivery.invoice
    if invoice.status == InvoiceStatus.DRAFT or not invoice.number:
        return False
    try:
        stored = invoice_pdf_store(invoice=invoice)
    except Exception as error:  # noqa: BLE001 - recorded for the operator, retried by beat
        _step_failed(invoice_id, "pdf", error, now)
        return False
    updated = InvoiceDelivery.objects.filter(
        invoice_id=invoice_id, pdf_status=StepStatus.PENDING
    ).update(pdf_status=StepStatus.DONE, pdf_path=stored.relative_path,
             pdf_sha256=stored.sha256, pdf_rendered_at=now)
    _clear_failure(invoice_id, "pdf")
    return bool(updated)


def document_link(path: str) -> str:
    """An absolute link to a page of the provider's site (its primary host)."""
    domain = provider_current().get_primary_domain()
    host = domain.domain if domain else "localhost"
    scheme = "http" if host == "localhost" or host.endswith(".localhost") else "https"
    return f"{scheme}://{host}{path}"


def _email_context(invoice: Invoice, contact: BillingContact) -> dict:
    statement = invoice.billing_account.payment_kind == PaymentKind.CHARGEBACK
    zone = provider_current().billing_timezone
    locale = locale_or_default(document_settings().locale)
    return {
        "invoice": invoice,
        "contact": contact,
        "kind": "statement" if statement else "invoice",
        "statement": statement,
        # People's dates, in the provider's zone and naming it (core/timefmt.py).
        "period": period_text(invoice.cycle.start, invoice.cycle.end, zone),
        "period_label": invoice.cycle.label,  # the subject's short name of the month
        "issued": date_text(invoice.issued_at, zone) if invoice.issued_at else "",
        "due": date_text(invoice.due_at, zone) if invoice.due_at and not statement else "",
        "total": money_text(invoice.total, invoice.currency, locale),
        "provider_name": invoice.provider_name,
        "account_name": (f"{invoice.account_name or invoice.billing_account.name} "
                         f"({invoice.organization_name or invoice.billing_account.organization})"),
        "link": document_link(f"/invoices/{invoice.pk}/"),
    }


def _zero_not_sent(invoice: Invoice) -> bool:
    """A 0.00 document is kept and viewable, and emailed only if the provider opts in."""
    return invoice.total == 0 and not document_settings().email_zero_total


def invoice_email_send(*, invoice_id: int, now: datetime) -> int:
    """Queue the invoice email to each recipient, once. Returns how many rows
    were queued (0 when already done, waiting for the PDF, or no contacts)."""
    with transaction.atomic():
        delivery = (
            InvoiceDelivery.objects.select_for_update(of=("self",))
            .select_related("invoice__cycle", "invoice__billing_account")
            .get(invoice_id=invoice_id)
        )
        if delivery.email_status != StepStatus.PENDING or delivery.pdf_status != StepStatus.DONE:
            return 0
        invoice = delivery.invoice
        # Billing contacts plus the organization's billing users who did not opt out.
        names = dict(BillingContact.objects.filter(billing_account_id=invoice.billing_account_id)
                     .values_list("email", "name"))
        contacts = [BillingContact(email=email, name=names.get(email, ""))
                    for email in invoice_email_recipients(invoice.billing_account)]
        if (invoice.status != InvoiceStatus.FINALIZED or not contacts
                or _zero_not_sent(invoice)):
            delivery.email_status = StepStatus.SKIPPED
            delivery.save(update_fields=["email_status", "updated_at"])
            return 0
        pdf = pdf_absolute_path(delivery.pdf_path)
        attachment = (f"{invoice.number}.pdf", "application/pdf", str(pdf))
        for contact in contacts:
            context = _email_context(invoice, contact)
            outbox_enqueue(
                key=email_key(invoice_id=invoice.pk, email=contact.email),
                to=contact.email,
                subject=render_to_string("emails/invoice_subject.txt", context).strip(),
                text=render_to_string("emails/invoice.txt", context),
                html=render_to_string("emails/invoice.html", context),
                attachments=[attachment],
                unsubscribe={"kind": "invoice",
                             "organization": invoice.billing_account.organization_id},
            )
        delivery.email_status = StepStatus.DONE
        delivery.emailed_at = now
        delivery.save(update_fields=["email_status", "emailed_at", "updated_at"])
    _clear_failure(invoice_id, "email")
    return len(contacts)


def invoice_payment_step(*, invoice_id: int, now: datetime) -> str:
    try:
        return invoice_payment_collect(invoice_id=invoice_id, now=now)
    except PaymentRetryLater as error:
        _step_failed(invoice_id, "payment", f"payment service unavailable: {error}", now)
        return PaymentStatus.PROCESSING
    except Exception as error:  # noqa: BLE001 - recorded for the operator
        _step_failed(invoice_id, "payment", error, now)
        return ""


def invoice_pdf_file(*, invoice_id: int, now: datetime) -> Path | None:
    """The stored PDF of a finalized (or voided) invoice, rendering it first if the
    pipeline has not yet; None if it cannot be rendered now."""
    delivery, _ = InvoiceDelivery.objects.get_or_create(invoice_id=invoice_id)
    if delivery.pdf_status == StepStatus.PENDING:
        invoice_pdf_render(invoice_id=invoice_id, now=now)
        delivery.refresh_from_db()
    if delivery.pdf_status != StepStatus.DONE:
        return None
    path = pdf_absolute_path(delivery.pdf_path)
    return path if path.is_file() else None


@dataclass(frozen=True)
class DeliveryResult:
    invoice_id: int
    pdf: str
    email: str
    payment: str


def invoice_deliver(*, invoice_id: int, now: datetime) -> DeliveryResult:
    """Run every step that is due for one finalized invoice, in order."""
    with transaction.atomic():
        if not Invoice.objects.filter(pk=invoice_id).exclude(status=InvoiceStatus.DRAFT).exists():
            return DeliveryResult(invoice_id, "", "", "")
        InvoiceDelivery.objects.get_or_create(invoice_id=invoice_id)
    invoice_pdf_render(invoice_id=invoice_id, now=now)
    try:
        invoice_email_send(invoice_id=invoice_id, now=now)
    except Exception as error:  # noqa: BLE001 - recorded for the operator
        _step_failed(invoice_id, "email", error, now)
    invoice_payment_step(invoice_id=invoice_id, now=now)
    delivery = InvoiceDelivery.objects.get(invoice_id=invoice_id)
    return DeliveryResult(invoice_id, delivery.pdf_status, delivery.email_status,
                          delivery.payment_status)


# --- beat sweeps (each in the current provider's schema) ---------------------------

SWEEP_LIMIT = 200


def deliveries_render_pending(*, now: datetime) -> int:
    deliveries_open_missing()
    ids = list(InvoiceDelivery.objects.filter(pdf_status=StepStatus.PENDING)
               .order_by("invoice_id").values_list("invoice_id", flat=True)[:SWEEP_LIMIT])
    return sum(invoice_pdf_render(invoice_id=pk, now=now) for pk in ids)


def deliveries_email_pending(*, now: datetime) -> int:
    ids = list(
        InvoiceDelivery.objects.filter(email_status=StepStatus.PENDING, pdf_status=StepStatus.DONE)
        .order_by("invoice_id").values_list("invoice_id", flat=True)[:SWEEP_LIMIT]
    )
    queued = 0
    for pk in ids:
        try:
            queued += invoice_email_send(invoice_id=pk, now=now)
        except Exception as error:  # noqa: BLE001
            _step_failed(pk, "email", error, now)
    return queued


def deliveries_collect_payments(*, now: datetime) -> list[str]:
    return [invoice_payment_step(invoice_id=pk, now=now) for pk in payments_due(now=now)]


# --- operator views and actions ----------------------------------------------------


def invoice_email_keys_prefix(invoice_id: int) -> str:
    return f"invoice:{invoice_id}:"


def deliveries_with_problems() -> Q:
    """A filter on Invoice: some step failed (or its emails did)."""
    failed_emails = OutboxMessage.objects.filter(status=OutboxStatus.FAILED).values_list(
        "key", flat=True
    )
    failed_invoice_ids = {
        int(key.split(":")[1]) for key in failed_emails
        if key.startswith("invoice:") and key.split(":")[1].isdigit()
    }
    return (
        Q(delivery__pdf_status=StepStatus.FAILED) | Q(delivery__email_status=StepStatus.FAILED)
        | Q(delivery__payment_status__in=[PaymentStatus.FAILED, PaymentStatus.GIVEN_UP])
        | ~Q(delivery__failed_step="") & Q(delivery__isnull=False)
        | Q(pk__in=failed_invoice_ids)
    )


def delivery_retry(*, invoice_id: int, now: datetime) -> bool:
    """Operator action: put every failed step of the invoice back in the queue and run
    the pipeline after commit. False if nothing had failed."""
    schema_name = connection.schema_name
    retried = False
    with transaction.atomic():
        delivery = InvoiceDelivery.objects.select_for_update().filter(invoice_id=invoice_id).first()
        if delivery is None:
            return False
        for field in ("pdf_status", "email_status"):
            if getattr(delivery, field) == StepStatus.FAILED:
                setattr(delivery, field, StepStatus.PENDING)
                retried = True
        if delivery.failed_step:
            # The error stays visible until the step succeeds; the count starts over.
            retried = True
            delivery.step_failures = 0
        delivery.save()
        if payment_retry_now(invoice_id=invoice_id, now=now):
            retried = True
        prefix = invoice_email_keys_prefix(invoice_id)
        for message_id in OutboxMessage.objects.filter(
            key__startswith=prefix, status=OutboxStatus.FAILED
        ).values_list("pk", flat=True):
            retried = outbox_retry(message_id=message_id) or retried
        if retried:
            transaction.on_commit(lambda: _queue_pipeline(invoice_id, schema_name))
    return retried


def delivery_emails_summary(invoice_ids: list[int]) -> dict[int, dict[str, int]]:
    """Outbox status counts per invoice (one query), for the admin."""
    summary: dict[int, dict[str, int]] = {pk: {} for pk in invoice_ids}
    if not invoice_ids:
        return summary
    keys = Q()
    for pk in invoice_ids:
        keys |= Q(key__startswith=invoice_email_keys_prefix(pk))
    for key, status in OutboxMessage.objects.filter(keys).values_list("key", "status"):
        pk = int(key.split(":")[1])
        summary.setdefault(pk, {})
        summary[pk][status] = summary[pk].get(status, 0) + 1
    return summary

