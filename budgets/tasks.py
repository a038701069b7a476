"""Celery tasks of budgets: load ids, call a service, nothing else."""

from datetime import datetime

from budgets.alerts import budget_alerts_evaluate
from cycles.models import BillingCycle
from tenancy.jobs import provider_task


@provider_task(name="budgets.tasks.budget_alerts_evaluate")
def budget_alerts_evaluate_task(cycle_id: int, now: str) -> dict:
    """Compare the budgets with the spend the rating run just wrote (budgets/receivers.py
    queues it after every rating run of the cycle)."""
    cycle = BillingCycle.objects.get(pk=cycle_id)
    result = budget_alerts_evaluate(cycle=cycle, now=datetime.fromisoformat(now))
    return {"cycle": result.cycle, "alerts": result.alerts, "webhooks": result.webhooks,
            "failed": result.failed}
