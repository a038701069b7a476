"""Budgets on a project or an organization, and the alerts they raised.

A budget is an amount per billing cycle in the provider's currency, with thresholds in
percent. After each rating run the scope's spend in the cycle is compared with them:
each threshold crossed notifies each recipient once per cycle (a `BudgetAlert` row,
unique, written with its outbox email in one transaction) and, when the budget has a
webhook, POSTs one signed request per threshold per cycle (a notifications
`WebhookDelivery` keyed by budget, cycle and threshold).
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from audit.tracking import audited
from core.fields import money_field


class BudgetScope(models.TextChoices):
    ORGANIZATION = "organization", "Organization"
    PROJECT = "project", "Project"


# The webhook secret never reaches the audit log.
@audited(exclude=["webhook_secret"])
class Budget(models.Model):
    """A monthly amount for a project's or an organization's spend, with thresholds."""

    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=20, choices=BudgetScope.choices)
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE,
        related_name="budgets",
    )
    project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.CASCADE,
        related_name="budgets",
    )
    amount = money_field(help_text="Per billing cycle, in the provider's currency.")
    # Percentages of `amount`, ascending and distinct (e.g. [50, 80, 100]).
    thresholds = ArrayField(models.PositiveSmallIntegerField())
    webhook_url = models.URLField(max_length=500, blank=True)
    # Signs each webhook (Standard Webhooks, notifications/signing.py). Kept in clear
    # because signing needs it; never shown again by the API after it is set.
    webhook_secret = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                name="budget_scope_has_its_target",
                condition=(
                    models.Q(scope=BudgetScope.ORGANIZATION, organization__isnull=False,
                             project__isnull=True)
                    | models.Q(scope=BudgetScope.PROJECT, organization__isnull=True,
                               project__isnull=False)
                ),
            ),
            models.CheckConstraint(name="budget_amount_positive",
                                   condition=models.Q(amount__gt=0)),
            models.CheckConstraint(
                name="budget_webhook_has_secret",
                condition=models.Q(webhook_url="") | ~models.Q(webhook_secret=""),
            ),
            models.UniqueConstraint(
                fields=["organization", "name"], condition=models.Q(organization__isnull=False),
                name="budget_name_unique_per_organization",
            ),
            models.UniqueConstraint(
                fields=["project", "name"], condition=models.Q(project__isnull=False),
                name="budget_name_unique_per_project",
            ),
        ]

    def __str__(self) -> str:
        target = self.project if self.scope == BudgetScope.PROJECT else self.organization
        return f"{self.name} ({self.get_scope_display().lower()} {target})"


@audited()
class BudgetRecipient(models.Model):
    """Who a budget notifies by email: a user of the provider or a plain address."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="recipients")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="+",
    )
    email = models.EmailField(blank=True)

    class Meta:
        ordering = ["budget_id", "email", "user_id"]
        constraints = [
            models.CheckConstraint(
                name="budget_recipient_user_or_email",
                condition=(models.Q(user__isnull=False, email="")
                           | models.Q(user__isnull=True) & ~models.Q(email="")),
            ),
            models.UniqueConstraint(
                fields=["budget", "user"], condition=models.Q(user__isnull=False),
                name="budget_recipient_user_unique",
            ),
            models.UniqueConstraint(
                fields=["budget", "email"], condition=~models.Q(email=""),
                name="budget_recipient_email_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.email or str(self.user)


class BudgetAlert(models.Model):
    """A threshold crossed in a cycle, told to one recipient (one email, once)."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    cycle = models.ForeignKey(
        "cycles.BillingCycle", on_delete=models.PROTECT, related_name="+"
    )
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the budget.")
    # The address the email went to, lowercased: what "one per recipient" counts.
    recipient = models.CharField(max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    spend = money_field(help_text="The scope's spend in the cycle when the alert was raised.")
    budget_amount = money_field()
    currency = models.CharField(max_length=3)
    outbox_key = models.CharField(max_length=300, unique=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "threshold", "recipient"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "cycle", "threshold", "recipient"],
                name="one_budget_alert_per_recipient_threshold_cycle",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.budget.name}: {self.threshold}% in {self.cycle} -> {self.recipient}"
