"""Celery tasks of budgets: load ids, call a service, nothing else."""

from django.utils import timezone

from billing.jobs import provider_task


@provider_task(name="budgets.tasks.webhook_deliver", bind=True, max_retries=None)
def webhook_deliver_task(self, delivery_id: int) -> bool:
    """POST one budget webhook; a transient failure comes back after its backoff (the
    bound on attempts is kept on the row, see budgets/services.py)."""
    from budgets.services import WebhookRetryLater, budget_webhook_deliver

    try:
        return budget_webhook_deliver(delivery_id=delivery_id, now=timezone.now())
    except WebhookRetryLater as retry:
        raise self.retry(countdown=retry.delay) from None


@provider_task(name="budgets.tasks.webhook_sweep")
def webhook_sweep_task() -> int:
    """Requeue due and stuck deliveries (for a beat entry next to the outbox sweep)."""
    from budgets.services import budget_webhook_sweep

    return budget_webhook_sweep(now=timezone.now())
