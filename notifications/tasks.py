"""Celery tasks of notifications: load ids, call a service, nothing else."""

from cycles.clock import clock_now
from notifications.outbox import OutboxRetryLater, outbox_deliver, outbox_sweep
from notifications.webhooks import WebhookRetryLater, webhook_deliver, webhook_sweep
from tenancy.jobs import provider_task


@provider_task(name="notifications.tasks.outbox_deliver", bind=True, max_retries=None)
def outbox_deliver_task(self, message_id: int) -> bool:
    """Send one outbox message; a transient SMTP failure comes back after its backoff
    (the bound on attempts is kept on the row, see notifications/outbox.py)."""
    try:
        return outbox_deliver(message_id=message_id, now=clock_now())
    except OutboxRetryLater as retry:
        raise self.retry(countdown=retry.delay) from None


@provider_task(name="notifications.tasks.outbox_sweep")
def outbox_sweep_task() -> int:
    return outbox_sweep(now=clock_now())


@provider_task(name="notifications.tasks.webhook_deliver", bind=True, max_retries=None)
def webhook_deliver_task(self, delivery_id: int) -> bool:
    """POST one webhook; a transient failure comes back after its backoff (the bound on
    attempts is kept on the row, see notifications/webhooks.py)."""
    try:
        return webhook_deliver(delivery_id=delivery_id, now=clock_now())
    except WebhookRetryLater as retry:
        raise self.retry(countdown=retry.delay) from None


@provider_task(name="notifications.tasks.webhook_sweep")
def webhook_sweep_task() -> int:
    """Requeue due and stuck deliveries (beat's safety net)."""
    return webhook_sweep(now=clock_now())
