"""Notifications in the admin: what was sent and how it went, read-only; operators may
send a failed email or webhook again."""

from django.contrib import admin, messages

from notifications.models import (
    NotificationPreference,
    OutboxMessage,
    OutboxStatus,
    WebhookDelivery,
    WebhookStatus,
)
from notifications.outbox import outbox_retry
from notifications.webhooks import webhook_resend, webhook_retry


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("to", "subject", "status", "attempts", "created_at", "sent_at",
                    "last_error")
    list_filter = ("status",)
    search_fields = ("to", "subject", "key")
    readonly_fields = ("key", "to", "subject", "text", "html", "attachments", "status",
                       "attempts", "last_error", "next_attempt_at", "claimed_at", "sent_at",
                       "created_at")
    actions = ["retry"]

    def has_retry_permission(self, request):
        return request.user.has_perm("notifications.change_outboxmessage")

    @admin.action(description="Send failed messages again", permissions=["retry"])
    def retry(self, request, queryset):
        count = sum(outbox_retry(message_id=m.pk)
                    for m in queryset.filter(status=OutboxStatus.FAILED))
        self.message_user(request, f"Queued {count} message(s) again.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "subject", "url", "status", "attempts", "last_status_code",
                    "next_attempt_at", "delivered_at")
    list_filter = ("status", "event")
    search_fields = ("subject", "url", "key")
    exclude = ("secret",)
    actions = ["retry_failed", "resend"]

    def has_retry_permission(self, request):
        return request.user.has_perm("notifications.change_webhookdelivery")

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.change_webhookdelivery")

    @admin.action(description="Send the selected deliveries again (same webhook-id)",
                  permissions=["resend"])
    def resend(self, request, queryset):
        sent = sum(webhook_resend(delivery_id=pk) for pk in queryset.values_list("pk", flat=True))
        skipped = queryset.count() - sent
        self.message_user(request, f"{sent} deliveries queued again; {skipped} still pending "
                          "or sending were left as they are.",
                          messages.SUCCESS if sent else messages.WARNING)

    @admin.action(description="Retry the selected failed deliveries", permissions=["retry"])
    def retry_failed(self, request, queryset):
        retried = sum(
            webhook_retry(delivery_id=pk)
            for pk in queryset.filter(status=WebhookStatus.FAILED).values_list("pk", flat=True)
        )
        skipped = queryset.count() - retried
        self.message_user(request, f"{retried} deliveries queued again; {skipped} were not "
                          "failed and were left as they are.",
                          messages.SUCCESS if retried else messages.WARNING)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("user", "organization", "project", "invoice_email", "budget_email",
                    "updated_at")
    list_filter = ("invoice_email", "budget_email")
    search_fields = ("user__username", "organization__name", "project__name")
    list_select_related = ("user", "organization", "project")
