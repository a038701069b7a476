"""Collecting a card account's finalized invoice: exactly one charge per invoice, with
one PaymentIntent (`confirm=True`, `off_session=True`), however often collection runs
and wherever a worker dies:
- an attempt row (with its idempotency key `<schema>-invoice-<number>-attempt-<n>`) is
  committed BEFORE Stripe is called, and the invoice's delivery row moves to
  `processing` in the same transaction (under a row lock), so no second attempt starts;
- Stripe deduplicates a repeated request with the same idempotency key;
- an attempt found in flight after its lease (its worker died between the call and the
  record) is first looked up on Stripe by the key in its metadata, and re-sent with the
  same key only if Stripe has no such PaymentIntent;
- webhooks (invoicing/payments/webhooks.py) apply the same transitions through
  `payment_apply_outcome` (success always wins; a late failure never undoes a payment,
  nor does a late success undo a refund);
- every PaymentIntent Stripe answers with is recorded in dj-stripe's `PaymentIntent`
  (public schema, owned by the provider's account): the attempt names it by id.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import stripe
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from djstripe.models import PaymentIntent

from accounts.models import PaymentKind
from core.retries import backoff_seconds
from invoicing.models import (
    Invoice,
    InvoiceDelivery,
    InvoiceStatus,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentProfile,
    PaymentStatus,
)
from invoicing.payments.cards import payment_profile_for
from invoicing.payments.failure_email import payment_failed_email_queue
from invoicing.payments.stripe_api import (
    CARD_REFUSED,
    STRIPE_NOT_CONFIGURED,
    TRANSIENT_STRIPE_ERRORS,
    ProviderStripe,
    amount_in_minor_units,
    provider_stripe_or_none,
    stripe_record,
)
from invoicing.selectors import credit_applied_to

NO_CARD_ON_FILE = "no card on file for billing account {account}"


class PaymentRetryLater(Exception):
    """Stripe could not be reached; the attempt stays in flight and is driven again."""


@dataclass(frozen=True)
class PaymentPolicy:
    max_attempts: int
    retry_seconds: int
    lease_seconds: int

    def retry_delay(self, attempts: int) -> timedelta:
        """After the n-th failed attempt wait base * 2^(n-1)."""
        return timedelta(seconds=backoff_seconds(attempts=attempts, base=self.retry_seconds))


def payment_policy() -> PaymentPolicy:
    return PaymentPolicy(
        max_attempts=settings.TALLY_PAYMENT_MAX_ATTEMPTS,
        retry_seconds=settings.TALLY_PAYMENT_RETRY_SECONDS,
        lease_seconds=settings.TALLY_PAYMENT_LEASE_SECONDS,
    )


def attempt_key(*, schema: str, number: str, attempt: int) -> str:
    return f"{schema}-invoice-{number}-attempt-{attempt}"


# --- outcomes (from the API answer or a webhook) -----------------------------------


def _record_failure(delivery: InvoiceDelivery, *, error: str, now: datetime,
                    needs_customer: bool = False) -> None:
    """On the locked delivery row: a failed attempt, retried later or given up; or one
    only the customer can finish (3-D Secure), which waits for their "pay now"."""
    policy = payment_policy()
    delivery.last_error = error[:2000]
    delivery.last_error_at = now
    delivery.failed_step = "payment"
    if needs_customer:
        delivery.payment_status = PaymentStatus.REQUIRES_ACTION
        delivery.next_payment_at = None
    elif delivery.payment_attempts >= policy.max_attempts:
        delivery.payment_status = PaymentStatus.GIVEN_UP
        delivery.next_payment_at = None
    else:
        delivery.payment_status = PaymentStatus.FAILED
        delivery.next_payment_at = now + policy.retry_delay(delivery.payment_attempts)
    delivery.save()


def payment_apply_outcome(
    *, attempt_id: int, intent_id: str, intent_status: str, error: str, now: datetime
) -> str:
    """Apply what Stripe said about an attempt (from the API answer or a webhook).

    Idempotent: a second report of the same outcome changes nothing; a success
    always wins over a failure, and nothing undoes a payment.
    """
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        delivery = InvoiceDelivery.objects.select_for_update().get(invoice_id=attempt.invoice_id)
        if intent_id and not attempt.payment_intent_id:
            attempt.payment_intent_id = intent_id
        if intent_status == "succeeded":
            attempt.status = PaymentAttemptStatus.SUCCEEDED
            attempt.error = ""
            attempt.save()
            if delivery.payment_status not in (PaymentStatus.PAID, PaymentStatus.REFUNDED):
                delivery.payment_status = PaymentStatus.PAID
                delivery.paid_at = now
                delivery.next_payment_at = None
                if delivery.failed_step == "payment":
                    delivery.failed_step = ""
                    delivery.last_error = ""
                delivery.save()
            return delivery.payment_status
        if intent_status in ("processing", "requires_capture"):
            attempt.save()
            return delivery.payment_status
        return _attempt_fail(attempt, delivery, intent_status=intent_status, error=error,
                             now=now)


def _attempt_fail(attempt: PaymentAttempt, delivery: InvoiceDelivery, *, intent_status: str,
                  error: str, now: datetime) -> str:
    """Declined, or waiting for the customer (3-D Secure): this attempt is over, or
    waits. A finished attempt never moves back; one waiting may still fail."""
    needs_customer = intent_status == "requires_action"
    waiting = attempt.status == PaymentAttemptStatus.REQUIRES_ACTION
    if attempt.status in (PaymentAttemptStatus.SUCCEEDED, PaymentAttemptStatus.FAILED) or (
            waiting and needs_customer):
        attempt.save()
        return delivery.payment_status
    attempt.status = (PaymentAttemptStatus.REQUIRES_ACTION if needs_customer
                      else PaymentAttemptStatus.FAILED)
    attempt.error = error[:2000]
    attempt.save()
    latest = not PaymentAttempt.objects.filter(
        invoice_id=attempt.invoice_id, number__gt=attempt.number
    ).exists()
    if latest and delivery.payment_status in (PaymentStatus.PROCESSING,
                                              PaymentStatus.REQUIRES_ACTION):
        _record_failure(delivery, error=f"attempt {attempt.number}: {error}", now=now,
                        needs_customer=needs_customer)
        if not attempt.on_session:  # on "pay now" the customer sees the outcome on the page
            payment_failed_email_queue(delivery=delivery, attempt=attempt, error=error)
    return delivery.payment_status


# --- one invoice's charge ----------------------------------------------------------


@dataclass(frozen=True)
class Charge:
    """An attempt committed in flight, for Stripe to answer outside any transaction."""

    invoice: Invoice
    attempt: PaymentAttempt
    customer_id: str
    # In flight past its lease (its worker died): look it up on Stripe before re-sending.
    resend: bool
    account: ProviderStripe


def invoice_payment_collect(*, invoice_id: int, now: datetime) -> str:
    """Charge a card account's finalized invoice once. Returns the payment status.

    Statements (chargeback accounts), zero totals and void invoices are marked as
    needing no payment. Raises PaymentRetryLater when Stripe is unreachable.
    """
    schema = connection.schema_name
    charge = _charge_open(invoice_id=invoice_id, now=now, schema=schema)
    if not isinstance(charge, Charge):
        return charge  # nothing to send now: the payment status as it stands
    # Outside the transaction: no lock is held while Stripe answers.
    return charge_send(charge, schema=schema, now=now)


def charge_send(charge: "Charge", *, schema: str, now: datetime) -> str:
    """Send an attempt committed in flight to Stripe and apply the answer."""
    try:
        intent = _intent_of(charge, schema=schema)
    except stripe.CardError as card_error:
        return _card_refused(charge, card_error, now=now)
    except TRANSIENT_STRIPE_ERRORS as transient:
        InvoiceDelivery.objects.filter(invoice_id=charge.invoice.pk).update(
            last_error=f"payment: {transient}"[:2000], last_error_at=now
        )
        raise PaymentRetryLater(str(transient)) from transient
    return intent_apply(charge.attempt, intent, charge.account, now=now)


def intent_apply(attempt: PaymentAttempt, intent, account: ProviderStripe, *,
                 now: datetime) -> str:
    """Apply a PaymentIntent Stripe answered with, then record it in dj-stripe."""
    status = intent.status
    error = ""
    if status not in ("succeeded", "processing", "requires_capture"):
        last = getattr(intent, "last_payment_error", None)
        error = (getattr(last, "message", "") if last else "") or f"payment {status}"
    outcome = payment_apply_outcome(
        attempt_id=attempt.pk, intent_id=intent.id, intent_status=status, error=error, now=now,
    )
    # After Tally's own record: the webhook of this intent records it again if this fails.
    stripe_record(PaymentIntent, intent, account)
    return outcome


def _charge_open(*, invoice_id: int, now: datetime, schema: str) -> Charge | str:
    """Under the delivery row's lock: the attempt to send to Stripe now (a new one, or
    one in flight past its lease), or the payment status when there is none."""
    policy = payment_policy()
    with transaction.atomic():
        delivery = (
            InvoiceDelivery.objects.select_for_update(of=("self",))
            .select_related("invoice__billing_account")
            .get(invoice_id=invoice_id)
        )
        invoice: Invoice = delivery.invoice
        if delivery.payment_status in (PaymentStatus.PAID, PaymentStatus.NOT_APPLICABLE,
                                       PaymentStatus.GIVEN_UP):
            return delivery.payment_status
        if (invoice.status != InvoiceStatus.FINALIZED
                or invoice.billing_account.payment_kind != PaymentKind.CARD
                or invoice.total - credit_applied_to(invoice_id=invoice.pk) <= 0):
            delivery.payment_status = PaymentStatus.NOT_APPLICABLE
            delivery.save(update_fields=["payment_status", "updated_at"])
            return delivery.payment_status
        attempt = (
            PaymentAttempt.objects.filter(invoice=invoice, status=PaymentAttemptStatus.PENDING)
            .order_by("-number").first()
        )
        profile = payment_profile_for(billing_account=invoice.billing_account)
        account = provider_stripe_or_none()
        resend = attempt is not None
        if attempt is not None:
            # In flight: another worker is calling Stripe, or one died doing it.
            if (attempt.created_at > now - timedelta(seconds=policy.lease_seconds)
                    or account is None):
                return delivery.payment_status
        else:
            attempt = attempt_start(delivery, profile, account, now=now, schema=schema)
            if attempt is None:
                return delivery.payment_status
        customer_id = profile.stripe_customer_id if profile else ""
    return Charge(invoice=invoice, attempt=attempt, customer_id=customer_id, resend=resend,
                   account=account)


def attempt_start(delivery: InvoiceDelivery, profile: PaymentProfile | None,
                   account: ProviderStripe | None, *, now: datetime, schema: str,
                   on_session: bool = False) -> PaymentAttempt | None:
    """On the locked delivery row: a new attempt if one is due (None if not, or if there
    is no card to charge, which counts as a failed attempt)."""
    invoice = delivery.invoice
    if delivery.payment_status in (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION):
        if not on_session or delivery.payment_status == PaymentStatus.PROCESSING:
            return None
    if not on_session and delivery.next_payment_at and delivery.next_payment_at > now:
        return None
    delivery.payment_attempts += 1
    if account is None or profile is None or not profile.payment_method_id:
        error = (STRIPE_NOT_CONFIGURED if account is None
                 else NO_CARD_ON_FILE.format(account=invoice.billing_account.name))
        _record_failure(delivery, error=error, now=now)
        return None
    # Attempt numbers never repeat (an operator's retry restarts the bound, not them).
    number = (PaymentAttempt.objects.filter(invoice=invoice)
              .aggregate(last=Max("number"))["last"] or 0) + 1
    attempt = PaymentAttempt.objects.create(
        invoice=invoice, number=number,
        idempotency_key=attempt_key(schema=schema, number=invoice.number, attempt=number),
        # What is due: the total less the credit notes allocated to it (issue 18).
        amount=invoice.total - credit_applied_to(invoice_id=invoice.pk),
        currency=invoice.currency,
        payment_method_id=profile.payment_method_id, created_at=now, on_session=on_session,
    )
    delivery.payment_status = PaymentStatus.PROCESSING
    delivery.save()
    return attempt


def _intent_of(charge: Charge, *, schema: str):
    """The attempt's PaymentIntent: the one it recorded, the one a dead worker created
    for its key, or a new one (same idempotency key, so Stripe never charges twice)."""
    attempt, invoice = charge.attempt, charge.invoice
    kwargs = charge.account.kwargs()
    intent = None
    if attempt.payment_intent_id:
        intent = stripe.PaymentIntent.retrieve(attempt.payment_intent_id, **kwargs)
    elif charge.resend:
        intent = _find_intent_by_key(attempt.idempotency_key, charge.customer_id, kwargs)
    if intent is None:
        intent = stripe.PaymentIntent.create(
            amount=amount_in_minor_units(attempt.amount, attempt.currency),
            currency=attempt.currency.lower(),
            customer=charge.customer_id,
            payment_method=attempt.payment_method_id,
            confirm=True,
            # Off session: the card saved for it, nobody there to authenticate (a bank
            # asking for 3-D Secure leaves it `requires_action` for "pay now").
            off_session=not attempt.on_session,
            metadata={"tally_schema": schema, "tally_invoice": str(invoice.pk),
                      "tally_invoice_number": invoice.number,
                      "tally_attempt": attempt.idempotency_key},
            idempotency_key=attempt.idempotency_key,
            **kwargs,
        )
    return intent


def _find_intent_by_key(key: str, customer_id: str, kwargs: dict):
    """The PaymentIntent a dead worker may have created for `key` (in its metadata)."""
    try:
        intents = stripe.PaymentIntent.list(customer=customer_id, limit=100, **kwargs)
    except stripe.InvalidRequestError:
        # localstripe lists without filters only.
        intents = stripe.PaymentIntent.list(limit=100, **kwargs)
    for intent in intents.auto_paging_iter():
        if (intent.metadata or {}).get("tally_attempt") == key and intent.customer == customer_id:
            return intent
    return None


def _card_refused(charge: Charge, card_error: stripe.CardError, *, now: datetime) -> str:
    error = card_error.user_message or str(card_error)
    details = getattr(card_error, "error", None)
    failed_intent = getattr(details, "payment_intent", None) if details else None
    intent_id = failed_intent.get("id", "") if isinstance(failed_intent, dict) else (
        getattr(failed_intent, "id", "") or ""
    )
    outcome = payment_apply_outcome(
        attempt_id=charge.attempt.pk, intent_id=intent_id, intent_status="failed",
        error=CARD_REFUSED.format(message=error), now=now,
    )
    if intent_id:
        try:
            intent = stripe.PaymentIntent.retrieve(intent_id, **charge.account.kwargs())
            stripe_record(PaymentIntent, intent, charge.account)
        except stripe.StripeError:  # recorded by the intent's webhook instead
            pass
    return outcome


# --- sweeps and the operator's retry -----------------------------------------------


def payments_due(*, now: datetime, limit: int = 200) -> list[int]:
    """Invoices whose collection should run now: never tried, retry due, or in flight
    past the lease (their worker died)."""
    lease = now - timedelta(seconds=payment_policy().lease_seconds)
    stuck = PaymentAttempt.objects.filter(
        status=PaymentAttemptStatus.PENDING, created_at__lt=lease
    ).values("invoice_id")
    rows = InvoiceDelivery.objects.filter(
        Q(payment_status=PaymentStatus.PENDING)
        | Q(payment_status=PaymentStatus.FAILED, next_payment_at__lte=now)
        | Q(payment_status=PaymentStatus.PROCESSING, invoice_id__in=stuck)
    ).order_by("invoice_id").values_list("invoice_id", flat=True)
    return list(rows[:limit])


def payment_retry_now(*, invoice_id: int, now: datetime) -> bool:
    """Operator action: a given-up or failed payment is tried again at the next run, with
    a fresh bound (attempt numbers, and so idempotency keys, go on from the last one)."""
    with transaction.atomic():
        delivery = InvoiceDelivery.objects.select_for_update().get(invoice_id=invoice_id)
        if delivery.payment_status not in (PaymentStatus.GIVEN_UP, PaymentStatus.FAILED):
            return False
        delivery.payment_status = PaymentStatus.FAILED
        delivery.next_payment_at = now
        # The operator's retry starts a new bounded series of attempts.
        delivery.payment_attempts = 0
        delivery.save()
    return True
