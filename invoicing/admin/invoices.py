"""Admin of invoices (read-only once issued, voided with a reason) and rating runs."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import path, reverse

from audit.admin import AuditHistoryMixin
from cycles.clock import clock_now
from invoicing.admin.credit_notes import credit_note_view
from invoicing.closing import invoice_void
from invoicing.delivery import deliveries_with_problems, delivery_retry
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus, PaymentStatus, RatingRun


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ("period_start", "period_end", "region", "description", "resource_label",
              "project_name", "resource_count", "quantity", "unit", "rate", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VoidForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                             help_text="Kept on the invoice and shown wherever it is listed.")


class DeliveryProblemFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [("problem", "Needs attention (a step failed)"),
                ("unpaid", "Card payment not collected"), ("paid", "Paid")]

    def queryset(self, request, queryset):
        if self.value() == "problem":
            return queryset.filter(deliveries_with_problems())
        if self.value() == "unpaid":
            return queryset.filter(delivery__payment_status__in=[
                PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.FAILED,
                PaymentStatus.GIVEN_UP])
        if self.value() == "paid":
            return queryset.filter(delivery__payment_status=PaymentStatus.PAID)
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("__str__", "cycle", "billing_account", "status", "total", "currency",
                    "issued_at", "delivery_state", "payment_state", "delivery_error")
    list_filter = ("status", DeliveryProblemFilter, "cycle")
    search_fields = ("number", "billing_account__name", "billing_account__organization__name")
    list_select_related = ("cycle", "billing_account__organization", "delivery")
    actions = ["retry_delivery"]

    @admin.display(description="PDF / email")
    def delivery_state(self, obj):
        delivery = getattr(obj, "delivery", None)
        if delivery is None:
            return "—"
        return f"{delivery.get_pdf_status_display()} / {delivery.get_email_status_display()}"

    @admin.display(description="payment")
    def payment_state(self, obj):
        delivery = getattr(obj, "delivery", None)
        return delivery.get_payment_status_display() if delivery else "—"

    @admin.display(description="last delivery error")
    def delivery_error(self, obj):
        delivery = getattr(obj, "delivery", None)
        if delivery is None or not delivery.last_error:
            return ""
        step = delivery.failed_step or "step"
        return f"{step} ({delivery.step_failures}x): {delivery.last_error[:160]}"

    @admin.action(description="Retry failed delivery steps (PDF, email, payment)")
    def retry_delivery(self, request, queryset):
        now = clock_now()
        retried = [inv for inv in queryset if delivery_retry(invoice_id=inv.pk, now=now)]
        if retried:
            self.message_user(request, f"Retrying {len(retried)} invoice(s): "
                              + ", ".join(str(inv) for inv in retried), messages.SUCCESS)
        else:
            self.message_user(request, "Nothing to retry: no step of these invoices failed.",
                              messages.WARNING)
    inlines = [InvoiceLineInline]
    readonly_fields = [f.name for f in Invoice._meta.fields]
    change_form_template = "admin/invoicing/invoice/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # An invoice is never edited in the admin: drafts are rewritten by rating, a
        # finalized one never changes (voiding is its own page). No save button, and no
        # "changed successfully" for a change that could not have happened.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("<int:invoice_id>/void/", self.admin_site.admin_view(self.void_view),
                 name="invoicing_invoice_void"),
            path("<int:invoice_id>/credit-note/",
                 self.admin_site.admin_view(lambda request, invoice_id:
                                            credit_note_view(self, request, invoice_id)),
                 name="invoicing_invoice_credit_note"),
            *super().get_urls(),
        ]

    def void_view(self, request, invoice_id: int):
        invoice = self.get_object(request, str(invoice_id))
        if invoice is None or not request.user.has_perm("invoicing.change_invoice"):
            return redirect(reverse("admin:invoicing_invoice_changelist"))
        form = VoidForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                invoice_void(invoice=invoice, reason=form.cleaned_data["reason"],
                             now=clock_now())
            except ValidationError as exc:
                form.add_error(None, exc.messages[0] if exc.messages else str(exc))
            else:
                self.message_user(request, f"Invoice {invoice.number} is void.", messages.SUCCESS)
                return redirect(reverse("admin:invoicing_invoice_change", args=[invoice.pk]))
        context = {**self.admin_site.each_context(request), "invoice": invoice, "form": form,
                   "opts": self.model._meta, "title": f"Void invoice {invoice}"}
        return render(request, "admin/invoicing/invoice/void.html", context)

    def render_change_form(self, request, context, *args, **kwargs):
        obj = kwargs.get("obj")
        context["can_void"] = bool(obj and obj.status == InvoiceStatus.FINALIZED
                                   and request.user.has_perm("invoicing.change_invoice"))
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(RatingRun)
class RatingRunAdmin(admin.ModelAdmin):
    list_display = ("cycle", "started_at", "rated_until", "resources", "lines", "invoices",
                    "unbilled_count")
    list_filter = ("cycle",)
    readonly_fields = [f.name for f in RatingRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
