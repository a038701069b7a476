"""Celery tasks of invoicing: load ids, call a service, nothing else."""

from django.utils import timezone

from billing.jobs import provider_task
from invoicing.jobs import close_due_cycles, rate_open_cycles
from invoicing.services import cycles_ensure


@provider_task(name="invoicing.tasks.cycles_ensure")
def cycles_ensure_task() -> list[str]:
    cycles = cycles_ensure(now=timezone.now())
    return [cycle.label for cycle in cycles]


@provider_task(name="invoicing.tasks.rate_open_cycles")
def rate_open_cycles_task() -> list[dict]:
    return [
        {"cycle": r.cycle, "lines": r.lines, "invoices": r.invoices, "unbilled": r.unbilled}
        for r in rate_open_cycles(now=timezone.now())
    ]


@provider_task(name="invoicing.tasks.close_due_cycles")
def close_due_cycles_task() -> list[dict]:
    return [
        {"cycle": r.cycle, "finalized": r.finalized, "closed": r.closed}
        for r in close_due_cycles(now=timezone.now())
    ]


# --- delivery and payment (issue 5) -------------------------------------------------


@provider_task(name="invoicing.tasks.outbox_deliver", bind=True, max_retries=None)
def outbox_deliver_task(self, message_id: int) -> bool:
    """Send one outbox message; a transient SMTP failure comes back after its backoff
    (the bound on attempts is kept on the row, see invoicing/outbox.py)."""
    from invoicing.outbox import OutboxRetryLater, outbox_deliver

    try:
        return outbox_deliver(message_id=message_id, now=timezone.now())
    except OutboxRetryLater as retry:
        raise self.retry(countdown=retry.delay) from None


@provider_task(name="invoicing.tasks.outbox_sweep")
def outbox_sweep_task() -> int:
    from invoicing.outbox import outbox_sweep

    return outbox_sweep(now=timezone.now())


@provider_task(name="invoicing.tasks.invoice_deliver")
def invoice_deliver_task(invoice_id: int) -> dict:
    """PDF, email and payment of one finalized invoice (queued after finalization)."""
    from invoicing.delivery import invoice_deliver

    result = invoice_deliver(invoice_id=invoice_id, now=timezone.now())
    return {"invoice": result.invoice_id, "pdf": result.pdf, "email": result.email,
            "payment": result.payment}


@provider_task(name="invoicing.tasks.render_pending_pdfs")
def render_pending_pdfs_task() -> int:
    from invoicing.delivery import deliveries_render_pending

    return deliveries_render_pending(now=timezone.now())


@provider_task(name="invoicing.tasks.email_pending_invoices")
def email_pending_invoices_task() -> int:
    from invoicing.delivery import deliveries_email_pending

    return deliveries_email_pending(now=timezone.now())


@provider_task(name="invoicing.tasks.collect_payments")
def collect_payments_task() -> list[str]:
    from invoicing.delivery import deliveries_collect_payments

    return deliveries_collect_payments(now=timezone.now())
