"""Budgets react to rating (each rated cycle queues a budget check, after commit) and to
one-click unsubscribes from their emails."""

from django.db.models import Q
from django.dispatch import receiver

from budgets.models import BudgetRecipient
from invoicing.models import RatingRun
from invoicing.signals import cycle_rated
from notifications.models import OutboxMessage
from notifications.unsubscribe import KIND_BUDGET, email_unsubscribed
from tenancy.jobs import queue_after_commit

EVALUATE_TASK = "budgets.tasks.budget_alerts_evaluate"


@receiver(cycle_rated, sender=RatingRun, dispatch_uid="budgets.cycle_rated")
def budget_check_after_rating(sender, *, cycle_id: int, now, **kwargs) -> None:
    queue_after_commit(EVALUATE_TASK, cycle_id, now.isoformat())


@receiver(email_unsubscribed, sender=OutboxMessage, dispatch_uid="budgets.email_unsubscribed")
def budget_recipient_unsubscribe(sender, *, kind: str, email: str, organization_id,
                                 project_id, **kwargs) -> None:
    """An address with no user that unsubscribed from a scope's budget emails stops
    being a recipient of the scope's budgets (users' own choice is their preference).
    BudgetRecipient is audited with its budget: the deletion is in the audit log."""
    if kind != KIND_BUDGET:
        return
    scope = Q(budget__project_id=project_id) if project_id else Q(
        budget__organization_id=organization_id)
    BudgetRecipient.objects.filter(scope, user__isnull=True, email__iexact=email).delete()
