"""Admin of credit notes (issued from an invoice's page through the service, then
read-only) and of the provider's document settings."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse

from audit.admin import AuditHistoryMixin
from cycles.clock import clock_now
from invoicing.credit_notes import LineCredit, credit_note_issue
from invoicing.models import (
    CreditAllocation,
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
    DocumentSettings,
    Invoice,
    InvoiceLine,
    LineKind,
)


class CreditNoteForm(forms.Form):
    reason = forms.ChoiceField(choices=CreditNoteReason.choices)
    memo = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000,
                           required=False, help_text="Printed on the credit note.")
    lines = forms.ModelMultipleChoiceField(
        queryset=InvoiceLine.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Credit these lines in full (a part of a line's quantity: the API).")
    amount = forms.DecimalField(max_digits=20, decimal_places=3, required=False,
                                help_text="Or credit an amount. Neither: the whole invoice.")

    def __init__(self, *args, invoice: Invoice, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lines"].queryset = invoice.lines.exclude(kind=LineKind.CREDIT).order_by(
            "sort_key", "id")


def credit_note_view(model_admin, request, invoice_id: int):
    """The invoice admin's "Issue a credit note" page."""
    invoice = model_admin.get_object(request, str(invoice_id))
    if invoice is None or not request.user.has_perm("invoicing.change_invoice"):
        return redirect(reverse("admin:invoicing_invoice_changelist"))
    form = CreditNoteForm(request.POST or None, invoice=invoice)
    if request.method == "POST" and form.is_valid():
        given = form.cleaned_data
        lines = [LineCredit(line_id=line.pk) for line in given["lines"]] or None
        try:
            note = credit_note_issue(invoice_id=invoice.pk, reason=given["reason"],
                                     memo=given["memo"], lines=lines, amount=given["amount"],
                                     now=clock_now(), actor=request.user)
        except ValidationError as exc:
            form.add_error(None, "; ".join(exc.messages) or str(exc))
        else:
            model_admin.message_user(request, f"Credit note {note.number} issued.",
                                     messages.SUCCESS)
            return redirect(reverse("admin:invoicing_creditnote_change", args=[note.pk]))
    context = {**model_admin.admin_site.each_context(request), "invoice": invoice,
               "form": form, "opts": model_admin.model._meta,
               "title": f"Issue a credit note for {invoice}"}
    return render(request, "admin/invoicing/invoice/credit_note.html", context)


class CreditNoteLineInline(admin.TabularInline):
    model = CreditNoteLine
    fields = ("invoice_line", "description", "quantity", "unit", "rate", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class CreditAllocationInline(admin.TabularInline):
    model = CreditAllocation
    fields = ("invoice", "amount", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CreditNote)
class CreditNoteAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("number", "invoice", "billing_account", "reason", "total", "currency",
                    "issued_at", "emailed_at")
    list_filter = ("reason",)
    search_fields = ("number", "invoice__number", "billing_account__name")
    list_select_related = ("invoice", "billing_account")
    readonly_fields = [f.name for f in CreditNote._meta.fields]
    inlines = [CreditNoteLineInline, CreditAllocationInline]

    def has_add_permission(self, request):
        return False  # issued from an invoice's page ("Issue a credit note")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DocumentSettings)
class DocumentSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "email_zero_total", "updated_at")

    def has_add_permission(self, request):
        return not DocumentSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
