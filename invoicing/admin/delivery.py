"""Admin of what happens to an invoice once issued: its delivery (PDF, email, payment),
the cards it is charged on, payment attempts and Stripe's webhooks. Read-only; failed
steps are retried through the delivery service."""

from django.contrib import admin, messages

from audit.admin import AuditHistoryMixin
from cycles.clock import clock_now
from invoicing.delivery import delivery_retry
from invoicing.models import (
    InvoiceDelivery,
    PaymentAttempt,
    PaymentProfile,
    StripeWebhookEvent,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(InvoiceDelivery)
class InvoiceDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "pdf_status", "email_status", "payment_status",
                    "payment_attempts", "next_payment_at", "failed_step", "last_error")
    list_filter = ("pdf_status", "email_status", "payment_status", "failed_step")
    search_fields = ("invoice__number",)
    list_select_related = ("invoice",)
    actions = ["retry"]

    def has_change_permission(self, request, obj=None):
        # Read-only fields, but the action needs change permission.
        return request.user.has_perm("invoicing.change_invoicedelivery")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in InvoiceDelivery._meta.fields]

    @admin.action(description="Retry failed steps")
    def retry(self, request, queryset):
        now = clock_now()
        count = sum(delivery_retry(invoice_id=d.invoice_id, now=now) for d in queryset)
        self.message_user(request, f"Retrying {count} invoice(s).", messages.SUCCESS)


@admin.register(PaymentProfile)
class PaymentProfileAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("billing_account", "brand", "last4", "exp_month", "exp_year",
                    "stripe_customer_id", "updated_at")
    search_fields = ("billing_account__name", "stripe_customer_id")
    list_select_related = ("billing_account",)


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("idempotency_key", "invoice", "amount", "currency", "status",
                    "payment_intent_id", "created_at", "error")
    list_filter = ("status",)
    search_fields = ("idempotency_key", "payment_intent_id", "invoice__number")
    list_select_related = ("invoice",)


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "payment_intent_id", "outcome", "received_at")
    list_filter = ("type",)
    search_fields = ("event_id", "payment_intent_id")
