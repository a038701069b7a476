"""What Tally tells people and systems: emails (the outbox), signed webhooks, and how
each user wants to hear about an organization or project.

Outbox messages and webhook deliveries are leased work rows (core/leases.py): written in
the transaction that decided to send them, sent after commit by a Celery task, retried
with backoff, and never sent twice by two workers.
"""

from django.conf import settings
from django.db import models


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    # Claimed by a worker that is talking to the SMTP server right now; a claim
    # older than the lease (a worker killed mid-send) may be taken again.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboxMessage(models.Model):
    """One email to one recipient, written in the transaction that decided to send it
    and delivered after commit by a Celery task. `key` makes enqueuing idempotent."""

    key = models.CharField(max_length=300, unique=True)
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    text = models.TextField()
    html = models.TextField(blank=True)
    # [[filename, content_type, absolute path], ...]
    attachments = models.JSONField(default=list, blank=True)
    # What a one-click unsubscribe from this email turns off (notifications/unsubscribe.py):
    # {"kind": "invoice" | "budget", "organization": id, "project": id}; empty: no link.
    unsubscribe = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx")]
        constraints = [
            models.CheckConstraint(
                name="sent_outbox_message_has_sent_at",
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.to} ({self.status})"


class WebhookStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    # Claimed by a worker talking to the receiver right now; a claim older than the
    # lease (a worker killed mid-request) may be taken again.
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One signed POST of one event to one receiver.

    `key` makes enqueuing idempotent (one delivery per budget, cycle and threshold,
    say); `subject` names what the event is about, for listing ("budget:12"). The
    body is stored as sent, so every retry carries the same bytes.
    """

    key = models.CharField(max_length=300, unique=True)
    event = models.CharField(max_length=100)
    subject = models.CharField(max_length=100, db_index=True)
    # What the subject's owner shows beside the delivery (the period and threshold).
    details = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    # Signs the body (HMAC-SHA256); copied from the subscription when the event is
    # recorded, never shown by the API.
    secret = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due_idx")]
        constraints = [
            models.CheckConstraint(
                name="delivered_webhook_has_delivered_at",
                condition=~models.Q(status="delivered") | models.Q(delivered_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.subject} -> {self.url} ({self.status})"


class NotificationPreference(models.Model):
    """How a user wants to hear about one organization or project.

    No row means the defaults: org billing users (org admins and org billing
    viewers) get the month's invoice email, and budget recipients get budget
    emails. `invoice_email` is read on organization rows (invoices are per billing
    account of an organization); `budget_email` on both, a project's row winning
    over its organization's. `payment_email` (a card payment failed or needs the
    customer) is read on organization rows, for its org admins. `credit_email` (a credit
    was added) is read on the row of the credit's scope: organization rows for the
    organization's billing users, project rows for a project's billing viewers.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
        related_name="notification_preferences",
    )
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE,
        related_name="+",
    )
    project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    invoice_email = models.BooleanField(default=True)
    budget_email = models.BooleanField(default=True)
    payment_email = models.BooleanField(default=True)
    credit_email = models.BooleanField(default=True)
    # Budget emails only for thresholds at or above this percent (0: every threshold).
    budget_min_threshold = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["user_id", "organization_id", "project_id"]
        constraints = [
            models.CheckConstraint(
                name="notification_preference_org_or_project",
                condition=(models.Q(organization__isnull=False, project__isnull=True)
                           | models.Q(organization__isnull=True, project__isnull=False)),
            ),
            models.UniqueConstraint(
                fields=["user", "organization"], condition=models.Q(organization__isnull=False),
                name="notification_preference_unique_per_org",
            ),
            models.UniqueConstraint(
                fields=["user", "project"], condition=models.Q(project__isnull=False),
                name="notification_preference_unique_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.project or self.organization}"
