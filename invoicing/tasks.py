"""Celery tasks of invoicing: load ids, call a service, nothing else."""

from cycles.clock import clock_now
from invoicing.credit_note_delivery import credit_note_deliver
from invoicing.delivery import (
    deliveries_collect_payments,
    deliveries_email_pending,
    deliveries_queue,
    deliveries_render_pending,
    invoice_deliver,
)
from invoicing.focus_files import focus_monthly_files_write
from invoicing.jobs import close_due_cycles, rate_open_cycles
from tenancy.jobs import provider_task


@provider_task(name="invoicing.tasks.rate_open_cycles")
def rate_open_cycles_task() -> list[dict]:
    return [
        {"cycle": r.cycle, "lines": r.lines, "invoices": r.invoices, "unbilled": r.unbilled}
        for r in rate_open_cycles(now=clock_now())
    ]


@provider_task(name="invoicing.tasks.close_due_cycles")
def close_due_cycles_task() -> list[dict]:
    return [
        {"cycle": r.cycle, "finalized": r.finalized, "closed": r.closed}
        for r in close_due_cycles(now=clock_now())
    ]


@provider_task(name="invoicing.tasks.invoice_deliver")
def invoice_deliver_task(invoice_id: int) -> dict:
    """PDF, email and payment of one finalized invoice (queued after finalization)."""
    result = invoice_deliver(invoice_id=invoice_id, now=clock_now())
    return {"invoice": result.invoice_id, "pdf": result.pdf, "email": result.email,
            "payment": result.payment}


@provider_task(name="invoicing.tasks.deliveries_queue")
def deliveries_queue_task(invoice_ids: list[int]) -> int:
    """Queue the pipeline of each invoice of a finalized batch (queued by the close)."""
    return deliveries_queue(invoice_ids=invoice_ids)


@provider_task(name="invoicing.tasks.render_pending_pdfs")
def render_pending_pdfs_task() -> int:
    return deliveries_render_pending(now=clock_now())


@provider_task(name="invoicing.tasks.email_pending_invoices")
def email_pending_invoices_task() -> int:
    return deliveries_email_pending(now=clock_now())


@provider_task(name="invoicing.tasks.collect_payments")
def collect_payments_task() -> list[str]:
    return deliveries_collect_payments(now=clock_now())


@provider_task(name="invoicing.tasks.focus_monthly_files")
def focus_monthly_files_task() -> list[str]:
    """The FOCUS files of finalized months that have none yet, beside the PDFs."""
    return focus_monthly_files_write()
@provider_task(name="invoicing.tasks.credit_note_deliver")
def credit_note_deliver_task(credit_note_id: int) -> int:
    """PDF and email of one credit note (queued after it was issued)."""
    return credit_note_deliver(credit_note_id=credit_note_id, now=clock_now())
