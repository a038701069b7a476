"""Celery tasks of notifications: load ids, call a service, nothing else.

Transport runs on real time, in a sandbox too: a send's lease (a worker that died) and
a transient failure's backoff are about the mail server and the worker, and Celery's
own retry countdown is real time. A sandbox's clock decides *what* is sent and when it
is dated (invoices, alerts), not when a message leaves.
"""

from cycles.clock import real_now
from notifications.outbox import OutboxRetryLater, outbox_deliver, outbox_sweep
from notifications.webhooks import WebhookRetryLater, webhook_deliver, webhook_sweep
from tenancy.jobs import provider_task


@provider_task(name="notifications.tasks.outbox_deliver", bind=True, max_retries=None)
def outbox_deliver_task(self, message_id: int) -> bool:
    """Send one outbox message; a transient SMTP failure comes back after its backoff
    (the bound on attempts is kept on the row, see notifications/outbox.py)."""
    try:
        return outbox_deliver(message_id=message_id, now=real_now())
    except OutboxRetryLater as retry:
        raise self.retry(countdown=retry.delay) from None


@provider_task(name="notifications.tasks.outbox_sweep")
def outbox_sweep_task() -> int:
    return outbox_sweep(now=real_now())


@provider_task(name="notifications.tasks.webhook_deliver", bind=True, max_retries=None)
def webhook_deliver_task(self, delivery_id: int) -> bool:
    """POST one webhook; a transient failure comes back after its backoff (the bound on
    attempts is kept on the row, see notifications/webhooks.py)."""
    try:
        return webhook_deliver(delivery_id=delivery_id, now=real_now())
    except WebhookRetryLater as retry:
        raise self.retry(countdown=retry.delay) from None


@provider_task(name="notifications.tasks.webhook_sweep")
def webhook_sweep_task() -> int:
    """Requeue due and stuck deliveries (beat's safety net)."""
    return webhook_sweep(now=real_now())
