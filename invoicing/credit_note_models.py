"""Credit notes and the provider's document settings (issue 18).

Imported by `invoicing.models`, so Django sees these as models of the invoicing app.

A credit note corrects a finalized invoice without touching it (finalized invoices
never change): it credits some of its lines, or an amount, with a reason. It has its
own gapless number series (an `InvoiceCounter` row named "credit_notes"), its own PDF
and email. Its value is allocated once: to the amount due of the invoice it corrects
while that is still unpaid, otherwise as account credit to the next invoice (or
statement) of the same billing account when that one is finalized.
"""

from django.conf import settings
from django.db import models

from audit.tracking import INSERT, audited
from core.fields import money_field, quantity_field, rate_field

CREDIT_NOTE_COUNTER = "credit_notes"


class CreditNoteReason(models.TextChoices):
    # Stripe's reasons, plus the two a cloud provider needs most.
    BILLING_ERROR = "billing_error", "Billing error"
    SERVICE_ISSUE = "service_issue", "Service issue"
    DUPLICATE = "duplicate", "Duplicate charge"
    PRODUCT_UNSATISFACTORY = "product_unsatisfactory", "Product unsatisfactory"
    ORDER_CHANGE = "order_change", "Order change"
    OTHER = "other", "Other"


@audited(events=(INSERT,))
class CreditNote(models.Model):
    """A correction of one finalized invoice: what it credits is in its lines."""

    invoice = models.ForeignKey("invoicing.Invoice", on_delete=models.PROTECT,
                                related_name="credit_notes")
    billing_account = models.ForeignKey("accounts.BillingAccount", on_delete=models.PROTECT,
                                        related_name="credit_notes")
    sequence = models.PositiveIntegerField(unique=True)
    number = models.CharField(max_length=40, unique=True)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=30, choices=CreditNoteReason.choices)
    memo = models.TextField(blank=True)
    # The credited value, positive; the sum of its lines.
    total = money_field()
    issued_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    pdf_path = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT")
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sequence"]
        constraints = [
            models.CheckConstraint(condition=models.Q(total__gt=0),
                                   name="credit_note_total_positive"),
        ]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    """One credited part: a share of an invoice line (quantity × its rate) or an amount
    (quantity 1 at that amount). Quantity × rate = amount, rounded once at the line."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey("invoicing.InvoiceLine", null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=300)
    quantity = quantity_field()
    unit = models.CharField(max_length=20, blank=True)
    rate = rate_field()
    amount = money_field()

    class Meta:
        ordering = ["credit_note_id", "id"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


@audited(events=(INSERT,))
class CreditAllocation(models.Model):
    """Where a credit note's value went: the amount due of an invoice (its own while
    unpaid, or the account's next one). The unallocated rest is account credit."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT,
                                    related_name="allocations")
    invoice = models.ForeignKey("invoicing.Invoice", on_delete=models.PROTECT,
                                related_name="credit_allocations")
    amount = money_field()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["invoice_id", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0),
                                   name="credit_allocation_positive"),
            models.UniqueConstraint(fields=["credit_note", "invoice"],
                                    name="one_allocation_per_note_and_invoice"),
        ]

    def __str__(self) -> str:
        return f"{self.credit_note} -> {self.invoice}: {self.amount}"


class DocumentSettings(models.Model):
    """How this provider's invoices and statements are printed and sent: one row.

    The provider's name, address, logo, tax id and legal footer are the provider's own
    settings (tenancy); these are the documents' own choices."""

    locale = models.CharField(
        max_length=20, default="en_US",
        help_text="How numbers and money are written (CLDR locale: en_US, de_DE, fr_FR).")
    email_zero_total = models.BooleanField(
        default=False,
        help_text="Email documents whose total is 0.00 too (they are always kept and "
                  "viewable).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "document settings"

    def __str__(self) -> str:
        return f"documents in {self.locale}"

