"""Writes of notification preferences: how a user wants to hear about a scope."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Organization, Project
from notifications.models import NotificationPreference

MIN_THRESHOLD_RANGE = "a percent from 0 to 1000"


def notification_preference_set(*, user, organization: Organization | None = None,
                                project: Project | None = None,
                                invoice_email: bool | None = None,
                                budget_email: bool | None = None,
                                budget_min_threshold: int | None = None,
                                payment_email: bool | None = None,
                                credit_email: bool | None = None,
                                now: datetime) -> NotificationPreference:
    """Save how `user` wants to hear about one organization or project. A value left
    None keeps what was saved (or the default, True). Setting the same values twice
    changes nothing but `updated_at`."""
    if (organization is None) == (project is None):
        raise ValidationError({"scope": ["give exactly one of organization and project"]})
    if budget_min_threshold is not None and not 0 <= budget_min_threshold <= 1000:
        raise ValidationError({"budget_min_threshold": [MIN_THRESHOLD_RANGE]})
    with transaction.atomic():
        row = (NotificationPreference.objects.select_for_update()
               .filter(user=user, organization=organization, project=project).first())
        if row is None:
            try:
                with transaction.atomic():
                    row = NotificationPreference.objects.create(
                        user=user, organization=organization, project=project,
                        invoice_email=True if invoice_email is None else invoice_email,
                        budget_email=True if budget_email is None else budget_email,
                        budget_min_threshold=budget_min_threshold or 0,
                        payment_email=True if payment_email is None else payment_email,
                        credit_email=True if credit_email is None else credit_email,
                        updated_at=now,
                    )
                return row
            except IntegrityError:  # a concurrent first save
                row = NotificationPreference.objects.select_for_update().get(
                    user=user, organization=organization, project=project)
        if invoice_email is not None:
            row.invoice_email = invoice_email
        if budget_email is not None:
            row.budget_email = budget_email
        if budget_min_threshold is not None:
            row.budget_min_threshold = budget_min_threshold
        if payment_email is not None:
            row.payment_email = payment_email
        if credit_email is not None:
            row.credit_email = credit_email
        row.updated_at = now
        row.save(update_fields=["invoice_email", "budget_email", "budget_min_threshold",
                                "payment_email", "credit_email", "updated_at"])
    return row
