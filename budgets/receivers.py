"""Budgets react to rating: each rated cycle queues a budget check, after commit."""

from django.dispatch import receiver

from invoicing.models import RatingRun
from invoicing.signals import cycle_rated
from tenancy.jobs import queue_after_commit

EVALUATE_TASK = "budgets.tasks.budget_alerts_evaluate"


@receiver(cycle_rated, sender=RatingRun, dispatch_uid="budgets.cycle_rated")
def budget_check_after_rating(sender, *, cycle_id: int, now, **kwargs) -> None:
    queue_after_commit(EVALUATE_TASK, cycle_id, now.isoformat())
