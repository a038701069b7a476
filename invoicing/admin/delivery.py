"""Admin of what happens to an invoice once issued: its delivery (PDF, email, payment),
the cards it is charged on, payment attempts (refunded by an action) and the provider's
Stripe account. Read-only; failed steps are retried through the delivery service.
Stripe's events are dj-stripe's (its webhook event triggers and events)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from audit.admin import AuditHistoryMixin
from cycles.clock import clock_now
from invoicing.delivery import delivery_retry
from invoicing.models import (
    InvoiceDelivery,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentProfile,
    StripeAccount,
)
from invoicing.payments.refunds import invoice_payment_refund
from invoicing.payments.selectors import card_of_payment_method
from invoicing.payments.stripe_account import (
    stripe_account_connect,
    webhook_endpoint_for,
    webhook_path,
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
    list_display = ("billing_account", "card", "stripe_customer_id", "updated_at")
    search_fields = ("billing_account__name", "stripe_customer_id")
    list_select_related = ("billing_account",)

    @admin.display(description="card (dj-stripe's record)")
    def card(self, profile):
        card = card_of_payment_method(profile.payment_method_id)
        return str(card) if card else "no card"


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("idempotency_key", "invoice", "amount", "currency", "status",
                    "on_session", "payment_intent_id", "refund_id", "created_at", "error")
    list_filter = ("status", "on_session")
    search_fields = ("idempotency_key", "payment_intent_id", "invoice__number")
    list_select_related = ("invoice",)
    actions = ["refund"]

    def has_refund_permission(self, request):
        return request.user.has_perm("invoicing.change_invoice")

    @admin.action(description="Refund the selected payments in full", permissions=["refund"])
    def refund(self, request, queryset):
        done = 0
        for attempt in queryset.filter(status=PaymentAttemptStatus.SUCCEEDED, refund_id=""):
            try:
                invoice_payment_refund(invoice_id=attempt.invoice_id,
                                       reason=f"refunded from the admin by {request.user}",
                                       now=clock_now())
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{attempt.invoice}: {' '.join(error.messages)}",
                                  messages.ERROR)
        self.message_user(request, f"Refunded {done} payment(s).", messages.SUCCESS)


class StripeAccountForm(forms.ModelForm):
    """The keys go to dj-stripe's APIKey rows, never into this provider's schema."""

    secret_key = forms.CharField(widget=forms.PasswordInput(render_value=False),
                                 help_text="sk_test_... or sk_live_...")
    publishable_key = forms.CharField(help_text="pk_test_... or pk_live_...")
    webhook_secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        help_text="The signing secret (whsec_...) Stripe shows for the endpoint you create "
        "there with this provider's webhook URL (shown once saved).")

    class Meta:
        model = StripeAccount
        fields = ("account_id",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account_id"].required = False
        self.fields["account_id"].help_text = "acct_...; left empty, Stripe is asked."

    def clean(self):
        data = super().clean()
        try:
            self.endpoint = stripe_account_connect(
                secret_key=data.get("secret_key", ""),
                publishable_key=data.get("publishable_key", ""),
                webhook_secret=data.get("webhook_secret", ""),
                account_id=data.get("account_id", ""),
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return data


@admin.register(StripeAccount)
class StripeAccountAdmin(AuditHistoryMixin, admin.ModelAdmin):
    """The provider's own Stripe account: connected (and re-keyed) through the service."""

    form = StripeAccountForm
    list_display = ("account_id", "livemode", "webhook_url", "updated_at")
    readonly_fields = ("livemode", "webhook_url")

    @admin.display(description="webhook URL to register at Stripe")
    def webhook_url(self, account):
        endpoint = webhook_endpoint_for(account_id=account.account_id, livemode=account.livemode)
        return webhook_path(endpoint) if endpoint else "-"

    def save_model(self, request, obj, form, change):
        # The service saved it (in the form's clean); the admin shows that row.
        saved = StripeAccount.objects.get(livemode=form.endpoint.livemode)
        obj.pk, obj.account_id, obj.livemode = saved.pk, saved.account_id, saved.livemode

    def has_delete_permission(self, request, obj=None):
        return False
