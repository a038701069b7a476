"""Card payments through Stripe (a Stripe-compatible server such as localstripe in tests).

Tally computes and numbers its own invoices; Stripe only holds the customer's card and
collects each finalized invoice of a card account with one PaymentIntent
(`confirm=True`, `off_session=True`).

Exactly one charge per invoice, however often collection runs and wherever a worker dies:
- an attempt row (with its idempotency key `<schema>-invoice-<number>-attempt-<n>`) is
  committed BEFORE Stripe is called, and the invoice's delivery row moves to
  `processing` in the same transaction (under a row lock), so no second attempt starts;
- Stripe deduplicates a repeated request with the same idempotency key;
- an attempt found in flight after its lease (its worker died between the call and the
  record) is first looked up on Stripe by the key in its metadata, and re-sent with the
  same key only if Stripe has no such PaymentIntent;
- webhooks are verified, stored once per event id, and apply the same transitions
  (success always wins; a late failure never undoes a payment).
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max

from accounts.models import BillingAccount, PaymentKind
from core.money import minor_unit
from core.retries import backoff_seconds
from invoicing.models import (
    Invoice,
    InvoiceDelivery,
    InvoiceStatus,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentProfile,
    PaymentStatus,
    StripeWebhookEvent,
)

logger = logging.getLogger(__name__)

NOT_A_CARD_ACCOUNT = (
    "this billing account pays by internal chargeback: its invoices are statements, "
    "no card is charged"
)
PAYMENT_METHOD_UNKNOWN = "no such payment method: {id}"
CARD_REFUSED = "the card was refused: {message}"
STRIPE_UNAVAILABLE = "the payment service is unavailable, try again later"
STRIPE_NOT_CONFIGURED = "card payments are not configured (STRIPE_TEST_SECRET_KEY)"
NO_CARD_ON_FILE = "no card on file for billing account {account}"
WEBHOOK_BAD_SIGNATURE = "invalid Stripe signature"

TRANSIENT_STRIPE_ERRORS = (
    stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError,
)


class PaymentRetryLater(Exception):
    """Stripe could not be reached; the attempt stays in flight and is driven again."""


# --- the Stripe client ------------------------------------------------------------


def stripe_api_key() -> str:
    key = settings.STRIPE_LIVE_SECRET_KEY if settings.STRIPE_LIVE_MODE else (
        settings.STRIPE_TEST_SECRET_KEY
    )
    if not key:
        raise ValidationError({"payment_method": [STRIPE_NOT_CONFIGURED]})
    return key


def _stripe_kwargs() -> dict:
    # The API host is global in stripe-python; set it from settings every time so a
    # test (or dev.py) pointing STRIPE_API_HOST at localstripe is always honoured.
    host = getattr(settings, "STRIPE_API_HOST", None)
    if host:
        stripe.api_base = host
    return {"api_key": stripe_api_key()}


def amount_in_minor_units(amount: Decimal, currency: str) -> int:
    """An invoice total (already rounded to the currency's minor unit) as Stripe's integer."""
    return int(amount.scaleb(minor_unit(currency)).to_integral_exact())


# --- payment profiles ---------------------------------------------------------------


def payment_profile_for(*, billing_account: BillingAccount) -> PaymentProfile | None:
    return PaymentProfile.objects.filter(billing_account=billing_account).first()


def payment_method_set(*, billing_account: BillingAccount, payment_method: str) -> PaymentProfile:
    """Attach `payment_method` (a PaymentMethod id created by the client, e.g. by Stripe.js,
    or a test token such as `pm_card_visa`) to the account's Stripe customer and make it
    the card its invoices are charged on. Replaces (and detaches) the previous card."""
    if billing_account.payment_kind != PaymentKind.CARD:
        raise ValidationError({"payment_method": [NOT_A_CARD_ACCOUNT]})
    kwargs = _stripe_kwargs()
    schema = connection.schema_name
    profile = payment_profile_for(billing_account=billing_account)
    try:
        if profile is None:
            contact = billing_account.contacts.order_by("email").first()
            customer = stripe.Customer.create(
                name=billing_account.name,
                email=contact.email if contact else None,
                metadata={"tally_schema": schema, "billing_account": str(billing_account.pk)},
                idempotency_key=f"{schema}-billing-account-{billing_account.pk}-customer",
                **kwargs,
            )
            customer_id = customer.id
        else:
            customer_id = profile.stripe_customer_id
        method = stripe.PaymentMethod.retrieve(payment_method, **kwargs)
        method = stripe.PaymentMethod.attach(method.id, customer=customer_id, **kwargs)
    except stripe.InvalidRequestError as error:
        raise ValidationError(
            {"payment_method": [PAYMENT_METHOD_UNKNOWN.format(id=payment_method)]}
        ) from error
    except stripe.CardError as error:
        raise ValidationError(
            {"payment_method": [CARD_REFUSED.format(message=error.user_message or error)]}
        ) from error
    except TRANSIENT_STRIPE_ERRORS as error:
        raise ValidationError({"payment_method": [STRIPE_UNAVAILABLE]}) from error

    card = method.card
    previous_method = profile.payment_method_id if profile else ""
    with transaction.atomic():
        try:
            with transaction.atomic():
                profile, _ = PaymentProfile.objects.select_for_update().get_or_create(
                    billing_account=billing_account,
                    defaults={"stripe_customer_id": customer_id},
                )
        except IntegrityError:
            profile = PaymentProfile.objects.select_for_update().get(
                billing_account=billing_account
            )
        profile.payment_method_id = method.id
        profile.brand = card.brand or ""
        profile.last4 = card.last4 or ""
        profile.exp_month = card.exp_month
        profile.exp_year = card.exp_year
        profile.save()
    if previous_method and previous_method != method.id:
        try:
            stripe.PaymentMethod.detach(previous_method, **kwargs)
        except stripe.StripeError:  # best effort: the new card is already the one charged
            logger.warning("could not detach replaced payment method %s", previous_method)
    return profile


# --- collection ---------------------------------------------------------------------


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


def _record_failure(delivery: InvoiceDelivery, *, error: str, now: datetime) -> None:
    """On the locked delivery row: a failed attempt, retried later or given up."""
    policy = payment_policy()
    delivery.last_error = error[:2000]
    delivery.last_error_at = now
    delivery.failed_step = "payment"
    if delivery.payment_attempts >= policy.max_attempts:
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
            if delivery.payment_status != PaymentStatus.PAID:
                delivery.payment_status = PaymentStatus.PAID
                delivery.paid_at = now
                delivery.next_payment_at = None
                if delivery.failed_step == "payment":
                    delivery.failed_step = ""
                    delivery.last_error = ""
                delivery.save()
            return PaymentStatus.PAID
        if intent_status in ("processing", "requires_capture"):
            attempt.save()
            return delivery.payment_status
        # Failed (declined) or needing the customer (3-D Secure): this attempt is over.
        if attempt.status in (PaymentAttemptStatus.SUCCEEDED, PaymentAttemptStatus.FAILED,
                              PaymentAttemptStatus.REQUIRES_ACTION):
            attempt.save()
            return delivery.payment_status
        attempt.status = (
            PaymentAttemptStatus.REQUIRES_ACTION if intent_status == "requires_action"
            else PaymentAttemptStatus.FAILED
        )
        attempt.error = error[:2000]
        attempt.save()
        latest = not PaymentAttempt.objects.filter(
            invoice_id=attempt.invoice_id, number__gt=attempt.number
        ).exists()
        if latest and delivery.payment_status == PaymentStatus.PROCESSING:
            _record_failure(delivery, error=f"attempt {attempt.number}: {error}", now=now)
        return delivery.payment_status


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


def _checkpoint(name: str) -> None:
    from invoicing.delivery import delivery_checkpoint

    delivery_checkpoint(name)


def invoice_payment_collect(*, invoice_id: int, now: datetime) -> str:
    """Charge a card account's finalized invoice once. Returns the payment status.

    Statements (chargeback accounts), zero totals and void invoices are marked as
    needing no payment. Raises PaymentRetryLater when Stripe is unreachable.
    """
    schema = connection.schema_name
    policy = payment_policy()
    resend = False
    with transaction.atomic():
        delivery = (
            InvoiceDelivery.objects.select_for_update(of=("self",))
            .select_related("invoice__billing_account")
            .get(invoice_id=invoice_id)
        )
        invoice: Invoice = delivery.invoice
        account = invoice.billing_account
        if delivery.payment_status in (PaymentStatus.PAID, PaymentStatus.NOT_APPLICABLE,
                                       PaymentStatus.GIVEN_UP):
            return delivery.payment_status
        if (invoice.status != InvoiceStatus.FINALIZED or account.payment_kind != PaymentKind.CARD
                or invoice.total <= 0):
            delivery.payment_status = PaymentStatus.NOT_APPLICABLE
            delivery.save(update_fields=["payment_status", "updated_at"])
            return delivery.payment_status
        attempt = (
            PaymentAttempt.objects.filter(invoice=invoice, status=PaymentAttemptStatus.PENDING)
            .order_by("-number").first()
        )
        profile = payment_profile_for(billing_account=account)
        if attempt is not None:
            # In flight: another worker is calling Stripe, or one died doing it.
            if attempt.created_at > now - timedelta(seconds=policy.lease_seconds):
                return delivery.payment_status
            resend = True
        else:
            if delivery.payment_status == PaymentStatus.PROCESSING:
                return delivery.payment_status
            if delivery.next_payment_at and delivery.next_payment_at > now:
                return delivery.payment_status
            delivery.payment_attempts += 1
            if profile is None or not profile.payment_method_id:
                _record_failure(
                    delivery, error=NO_CARD_ON_FILE.format(account=account.name), now=now
                )
                return delivery.payment_status
            # Attempt numbers never repeat (an operator's retry restarts the bound, not them).
            number = (PaymentAttempt.objects.filter(invoice=invoice)
                      .aggregate(last=Max("number"))["last"] or 0) + 1
            attempt = PaymentAttempt.objects.create(
                invoice=invoice, number=number,
                idempotency_key=attempt_key(schema=schema, number=invoice.number, attempt=number),
                amount=invoice.total, currency=invoice.currency,
                payment_method_id=profile.payment_method_id, created_at=now,
            )
            delivery.payment_status = PaymentStatus.PROCESSING
            delivery.save()
        customer_id = profile.stripe_customer_id if profile else ""

    # Outside the transaction: no lock is held while Stripe answers.
    kwargs = _stripe_kwargs()
    intent = None
    error = ""
    try:
        if attempt.payment_intent_id:
            intent = stripe.PaymentIntent.retrieve(attempt.payment_intent_id, **kwargs)
        elif resend:
            intent = _find_intent_by_key(attempt.idempotency_key, customer_id, kwargs)
        if intent is None:
            _checkpoint("payment-before-stripe")
            intent = stripe.PaymentIntent.create(
                amount=amount_in_minor_units(attempt.amount, attempt.currency),
                currency=attempt.currency.lower(),
                customer=customer_id,
                payment_method=attempt.payment_method_id,
                confirm=True,
                off_session=True,
                metadata={"tally_schema": schema, "tally_invoice": str(invoice.pk),
                          "tally_invoice_number": invoice.number,
                          "tally_attempt": attempt.idempotency_key},
                idempotency_key=attempt.idempotency_key,
                **kwargs,
            )
            _checkpoint("payment-after-stripe")
    except stripe.CardError as card_error:
        error = card_error.user_message or str(card_error)
        details = getattr(card_error, "error", None)
        failed_intent = getattr(details, "payment_intent", None) if details else None
        intent_id = failed_intent.get("id", "") if isinstance(failed_intent, dict) else (
            getattr(failed_intent, "id", "") or ""
        )
        return payment_apply_outcome(
            attempt_id=attempt.pk, intent_id=intent_id, intent_status="failed",
            error=CARD_REFUSED.format(message=error), now=now,
        )
    except TRANSIENT_STRIPE_ERRORS as transient:
        InvoiceDelivery.objects.filter(invoice_id=invoice_id).update(
            last_error=f"payment: {transient}"[:2000], last_error_at=now
        )
        raise PaymentRetryLater(str(transient)) from transient
    status = intent.status
    if status not in ("succeeded", "processing", "requires_capture"):
        last = getattr(intent, "last_payment_error", None)
        error = (getattr(last, "message", "") if last else "") or f"payment {status}"
    return payment_apply_outcome(
        attempt_id=attempt.pk, intent_id=intent.id, intent_status=status, error=error, now=now
    )


def payments_due(*, now: datetime, limit: int = 200) -> list[int]:
    """Invoices whose collection should run now: never tried, retry due, or in flight
    past the lease (their worker died)."""
    from django.db.models import Q

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


# --- webhooks -----------------------------------------------------------------------

HANDLED_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed")


def stripe_webhook_receive(*, payload: bytes, signature: str, now: datetime) -> StripeWebhookEvent:
    """Verify, store once, and apply a Stripe event. Raises ValidationError on a bad
    signature. A repeated event id returns the stored row and changes nothing."""
    secret = settings.TALLY_STRIPE_WEBHOOK_SECRET
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise ValidationError({"signature": [WEBHOOK_BAD_SIGNATURE]}) from error
    event = json.loads(payload)
    obj = (event.get("data") or {}).get("object") or {}
    intent_id = obj.get("id", "") if obj.get("object") == "payment_intent" else ""
    with transaction.atomic():
        row, created = StripeWebhookEvent.objects.get_or_create(
            event_id=event["id"],
            defaults={"type": event.get("type", ""), "payment_intent_id": intent_id,
                      "payload": event, "received_at": now},
        )
        if not created:
            return row
        if row.type not in HANDLED_EVENTS:
            row.outcome = "ignored: not handled"
            row.save(update_fields=["outcome"])
            return row
        key = (obj.get("metadata") or {}).get("tally_attempt", "")
        attempt = (
            PaymentAttempt.objects.filter(payment_intent_id=intent_id).first() if intent_id
            else None
        ) or (PaymentAttempt.objects.filter(idempotency_key=key).first() if key else None)
        if attempt is None:
            # Another provider's payment (one Stripe account serves every schema).
            row.outcome = "ignored: no such payment here"
            row.save(update_fields=["outcome"])
            return row
        if row.type == "payment_intent.succeeded":
            status, error = "succeeded", ""
        else:
            last = obj.get("last_payment_error") or {}
            status = "failed"
            error = CARD_REFUSED.format(message=last.get("message") or "declined")
        outcome = payment_apply_outcome(
            attempt_id=attempt.pk, intent_id=intent_id, intent_status=status, error=error,
            now=now,
        )
        row.outcome = f"invoice {attempt.invoice_id}: {outcome}"
        row.save(update_fields=["outcome"])
    return row
