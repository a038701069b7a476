"""Invoicing: invoices and their lines, rating runs, credits, delivery and payment."""

from decimal import Decimal

from django.conf import settings
from django.db import models

from audit.tracking import INSERT, UPDATE, audited
from core.fields import money_field, quantity_field, rate_field
from cycles.models import BillingCycle


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINALIZED = "finalized", "Finalized"
    VOID = "void", "Void"


# Rating rewrites a draft's totals every few minutes: only its creation and the changes
# of its status (finalized, void) are audited. The creation's snapshot is what the
# finalization is compared with.
@audited(events=(INSERT, UPDATE),
         fields=["billing_account", "cycle", "status", "number", "issued_at", "voided_at",
                 "void_reason"],
         changes=["status", "voided_at", "void_reason"])
class Invoice(models.Model):
    """One per billing account per cycle.

    A draft while the cycle is open, kept current by every rating run (the
    "upcoming invoice"). Finalizing freezes its lines, snapshots the names it
    prints and gives it the provider's next gapless number; after that it never
    changes, and can only be voided with a reason.
    """

    billing_account = models.ForeignKey(
        "accounts.BillingAccount", on_delete=models.PROTECT, related_name="invoices"
    )
    cycle = models.ForeignKey(BillingCycle, on_delete=models.PROTECT, related_name="invoices")
    status = models.CharField(
        max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    currency = models.CharField(max_length=3)
    subtotal = money_field(default=Decimal(0))
    total = money_field(default=Decimal(0))
    sequence = models.PositiveIntegerField(null=True, blank=True, unique=True)
    number = models.CharField(max_length=40, null=True, blank=True, unique=True)
    # Snapshots taken at finalization: a renamed account or provider never
    # changes an issued invoice.
    account_name = models.CharField(max_length=200, blank=True)
    organization_name = models.CharField(max_length=200, blank=True)
    provider_name = models.CharField(max_length=200, blank=True)
    provider_address = models.TextField(blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-cycle__start", "billing_account_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["billing_account", "cycle"], name="one_invoice_per_account_per_cycle"
            ),
            models.CheckConstraint(
                name="finalized_invoice_has_number",
                condition=models.Q(status=InvoiceStatus.DRAFT)
                | models.Q(number__isnull=False, sequence__isnull=False, issued_at__isnull=False),
            ),
            models.CheckConstraint(
                name="void_invoice_has_reason",
                condition=~models.Q(status=InvoiceStatus.VOID) | ~models.Q(void_reason=""),
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.cycle} for {self.billing_account}"


class LineKind(models.TextChoices):
    USAGE = "usage", "Usage"
    CREDIT = "credit", "Credit"
    ONE_TIME = "one_time", "One-time charge"
    RECURRING = "recurring", "Recurring charge"


class InvoiceLine(models.Model):
    """A priced line, carrying what priced it and a snapshot of what it prints.

    Columns follow the chargeback seed's sample invoice: period, region,
    description, resource, project, quantity, rate, amount; plus the count of
    resources the line groups.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=10, choices=LineKind.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    project_name = models.CharField(max_length=100, blank=True)
    organization_name = models.CharField(max_length=100, blank=True)
    metric_key = models.CharField(max_length=100, blank=True)
    variant = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    service_class = models.CharField(max_length=20, blank=True)
    description = models.CharField(max_length=300)
    resource_label = models.CharField(max_length=300, blank=True)
    resource_count = models.PositiveIntegerField(default=0)
    # Who created the line's resources (a line groups one creator's resources only):
    # spend per user. Empty for lines of no resource (fees, metered usage, credits).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    quantity = quantity_field()
    unit = models.CharField(max_length=20, blank=True)
    rate = rate_field()
    amount = money_field()
    price = models.ForeignKey(
        "catalog.Price", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # How the line was priced: tiers, proration period, credit window, resources.
    details = models.JSONField(default=dict, blank=True)
    sort_key = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["invoice_id", "sort_key", "id"]
        indexes = [models.Index(fields=["project", "metric_key"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_start__lt=models.F("period_end")),
                name="line_period_start_before_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class InvoiceCounter(models.Model):
    """The provider's invoice sequence: one row, locked while an invoice is
    finalized, so numbers have no gaps and are never reused (a rolled-back
    finalization rolls the counter back too)."""

    name = models.CharField(max_length=20, unique=True, default="invoices")
    last_sequence = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_sequence}"


class RatingRun(models.Model):
    """A rating run over one cycle: when it ran, what it saw, what it wrote."""

    cycle = models.ForeignKey(BillingCycle, on_delete=models.CASCADE, related_name="rating_runs")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    rated_until = models.DateTimeField()
    # Real time (started_at is the provider's clock): compared with the audit log's
    # stamps to tell whether a priced input changed since (invoicing/rating_inputs.py).
    recorded_at = models.DateTimeField(null=True, blank=True)
    resources = models.PositiveIntegerField(default=0)
    lines = models.PositiveIntegerField(default=0)
    invoices = models.PositiveIntegerField(default=0)
    # Running time no line holds (no price, no billing account), for operators.
    unbilled_count = models.PositiveIntegerField(default=0)
    unbilled_sample = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"rating {self.cycle} at {self.started_at:%Y-%m-%d %H:%M:%S} UTC"


class CreditScope(models.TextChoices):
    ORGANIZATION = "organization", "Organization"
    PROJECT = "project", "Project"
    RESOURCE = "resource", "One resource"


@audited()
class Credit(models.Model):
    """An SLA credit: the charge for the time covered resources ran in `[window_start,
    window_end)` comes back as negative invoice lines carrying its name and description.

    It covers the resources in scope (optionally narrowed to a region and a resource
    type) and every resource that depends on them, transitively.
    """

    name = models.CharField(max_length=200)
    description = models.TextField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    scope = models.CharField(max_length=20, choices=CreditScope.choices)
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.PROTECT,
        related_name="credits",
    )
    project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="credits"
    )
    resource = models.ForeignKey(
        "metering.Resource", null=True, blank=True, on_delete=models.PROTECT,
        related_name="credits",
    )
    region = models.CharField(max_length=100, blank=True, help_text="Empty: every region.")
    metric_key = models.CharField(
        max_length=100, blank=True, help_text="Resource type; empty: every type."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["window_start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_start__lt=models.F("window_end")),
                name="credit_window_start_before_end",
            ),
            models.CheckConstraint(
                name="credit_scope_has_its_target",
                condition=(
                    models.Q(scope=CreditScope.ORGANIZATION, organization__isnull=False,
                             project__isnull=True, resource__isnull=True)
                    | models.Q(scope=CreditScope.PROJECT, organization__isnull=True,
                               project__isnull=False, resource__isnull=True)
                    | models.Q(scope=CreditScope.RESOURCE, organization__isnull=True,
                               project__isnull=True, resource__isnull=False)
                ),
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.name} [{self.window_start:%Y-%m-%d %H:%M}, "
                f"{self.window_end:%Y-%m-%d %H:%M}) UTC")


# --- Delivery and payment (issue 5) -------------------------------------------------


@audited()
class StripeAccount(models.Model):
    """The provider's own Stripe account (one per mode): its id names dj-stripe's
    `Account` row in the public schema, whose `APIKey` rows hold the keys and whose
    `WebhookEndpoint` verifies Stripe's events (invoicing/payments/stripe_account.py).
    Every Stripe call of this provider is made with these keys and nobody else's."""

    account_id = models.CharField(max_length=255, help_text="The Stripe account (acct_...).")
    livemode = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["livemode"], name="one_stripe_account_per_mode"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} ({'live' if self.livemode else 'test'})"


@audited()
class PaymentProfile(models.Model):
    """The card a card-paying billing account is charged on: the ids of its Stripe
    Customer and PaymentMethod, whose records (brand, last four digits, expiry) are
    dj-stripe's `Customer` and `PaymentMethod`. Chargeback accounts have none: their
    invoices are statements."""

    billing_account = models.OneToOneField(
        "accounts.BillingAccount", on_delete=models.CASCADE, related_name="payment_profile"
    )
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    # Empty once the card is removed: the next invoice fails with "no card on file".
    payment_method_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.stripe_customer_id} ({self.payment_method_id or 'no card'})"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    # Failed more times than the bound: an operator must look (and retry from the admin).
    FAILED = "failed", "Failed"
    # Not needed for this invoice (no contacts, chargeback account, voided).
    SKIPPED = "skipped", "Not applicable"


class PaymentStatus(models.TextChoices):
    NOT_APPLICABLE = "not_applicable", "Statement (no payment)"
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed, will retry"
    GIVEN_UP = "given_up", "Failed (retries exhausted)"
    # The card's bank asks the customer to authenticate (3-D Secure): "pay now".
    REQUIRES_ACTION = "requires_action", "Needs the customer's authentication"
    REFUNDED = "refunded", "Refunded"


class InvoiceDelivery(models.Model):
    """Where a finalized invoice is in the pipeline: PDF, email, payment.

    Each step moves forward with conditional updates, so running a step twice, or
    after a worker died in the middle of it, does its work once.
    """

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="delivery")
    pdf_status = models.CharField(
        max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING
    )
    pdf_path = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT")
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_rendered_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(
        max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING
    )
    emailed_at = models.DateTimeField(null=True, blank=True)
    payment_status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    payment_attempts = models.PositiveIntegerField(default=0)
    next_payment_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # The last failure of any step, for the operator; cleared when the step succeeds.
    failed_step = models.CharField(max_length=20, blank=True)
    step_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "invoice deliveries"
        indexes = [
            models.Index(fields=["pdf_status"]),
            models.Index(fields=["email_status"]),
            models.Index(fields=["payment_status", "next_payment_at"]),
        ]

    def __str__(self) -> str:
        return f"delivery of {self.invoice}"


class PaymentAttemptStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REQUIRES_ACTION = "requires_action", "Requires customer action"


@audited()
class PaymentAttempt(models.Model):
    """One PaymentIntent for one invoice. Its idempotency key is derived from the
    invoice number and the attempt number, so a retried call reaches Stripe as the
    same request and never charges twice."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payment_attempts")
    number = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    amount = money_field()
    currency = models.CharField(max_length=3)
    payment_method_id = models.CharField(max_length=255)
    payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(
        max_length=20, choices=PaymentAttemptStatus.choices, default=PaymentAttemptStatus.PENDING
    )
    # Made by the customer from the dashboard ("pay now"), who can authenticate it.
    on_session = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    refund_id = models.CharField(max_length=255, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["invoice_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "number"], name="one_attempt_number"),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key}: {self.status}"


# --- Credit notes and document settings (issue 18), in a module of their own ----------

from invoicing.credit_note_models import (  # noqa: E402,F401 - registers the models
    CreditAllocation,
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
    DocumentSettings,
)
