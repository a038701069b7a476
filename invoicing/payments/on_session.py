"""Paying an invoice from the dashboard ("pay now"): the customer is there, so the bank
may ask them to authenticate (3-D Secure) in the browser with Stripe.js.

A failed, given-up or waiting payment gets one new on-session attempt on the saved card
(its own idempotency key, committed before Stripe is called, as in collection.py).
When the bank asks for authentication, the browser confirms the PaymentIntent with its
client secret and then asks Tally to look at it again (`invoice_payment_refresh`); the
intent's webhook does the same on its own.
"""

from dataclasses import dataclass
from datetime import datetime

import stripe
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from invoicing.models import (
    Invoice,
    InvoiceDelivery,
    InvoiceStatus,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentStatus,
)
from invoicing.payments.cards import payment_profile_for
from invoicing.payments.collection import (
    TRANSIENT_STRIPE_ERRORS,
    Charge,
    PaymentRetryLater,
    attempt_start,
    charge_send,
    intent_apply,
)
from invoicing.payments.stripe_api import provider_stripe

NOTHING_TO_PAY = "this invoice has nothing to pay now (payment {status})"
PAYABLE = (PaymentStatus.FAILED, PaymentStatus.GIVEN_UP, PaymentStatus.REQUIRES_ACTION)


@dataclass(frozen=True)
class PayNow:
    """What the page does next: done (`status` paid), or authenticate with Stripe.js
    (`client_secret`), or show `error`."""

    status: str
    client_secret: str = ""
    publishable_key: str = ""
    error: str = ""


def _waiting_intent(invoice: Invoice, account) -> PayNow | None:
    """An attempt waiting for the customer's authentication: its client secret again."""
    attempt = (PaymentAttempt.objects.filter(
        invoice=invoice, status=PaymentAttemptStatus.REQUIRES_ACTION).order_by("-number")
        .first())
    if attempt is None or not attempt.payment_intent_id:
        return None
    intent = stripe.PaymentIntent.retrieve(attempt.payment_intent_id, **account.kwargs())
    if intent.status != "requires_action":
        return None
    return PayNow(status=PaymentStatus.REQUIRES_ACTION, client_secret=intent.client_secret,
                  publishable_key=account.publishable_key)


def invoice_pay_now(*, invoice_id: int, now: datetime) -> PayNow:
    """Charge the saved card now, on session. Raises ValidationError when the invoice
    has nothing to pay, PaymentRetryLater when Stripe is unreachable."""
    schema = connection.schema_name
    account = provider_stripe("invoice")
    invoice = Invoice.objects.get(pk=invoice_id)
    try:
        # Outside the lock (no lock is held while Stripe answers): an attempt that
        # waits for authentication is finished in the browser, not charged again.
        waiting = _waiting_intent(invoice, account)
    except TRANSIENT_STRIPE_ERRORS as error:
        raise PaymentRetryLater(str(error)) from error
    if waiting is not None:
        return waiting
    with transaction.atomic():
        delivery = (InvoiceDelivery.objects.select_for_update(of=("self",))
                    .select_related("invoice__billing_account").get(invoice_id=invoice_id))
        invoice = delivery.invoice
        if invoice.status != InvoiceStatus.FINALIZED or delivery.payment_status not in PAYABLE:
            raise ValidationError({"invoice": [NOTHING_TO_PAY.format(
                status=delivery.get_payment_status_display().lower())]})
        profile = payment_profile_for(billing_account=invoice.billing_account)
        attempt = attempt_start(delivery, profile, account, now=now, schema=schema,
                                 on_session=True)
        if attempt is None:
            return PayNow(status=delivery.payment_status, error=delivery.last_error)
    charge = Charge(invoice=invoice, attempt=attempt, customer_id=profile.stripe_customer_id,
                     resend=False, account=account)
    status = charge_send(charge, schema=schema, now=now)
    return _answer(invoice_id, status, account)


def invoice_payment_refresh(*, invoice_id: int, now: datetime) -> PayNow:
    """After the browser authenticated (or not): apply what Stripe now says of the
    latest attempt. Idempotent, like a webhook."""
    account = provider_stripe("invoice")
    attempt = PaymentAttempt.objects.filter(invoice_id=invoice_id).order_by("-number").first()
    if attempt is not None and attempt.payment_intent_id:
        try:
            intent = stripe.PaymentIntent.retrieve(attempt.payment_intent_id,
                                                   **account.kwargs())
        except TRANSIENT_STRIPE_ERRORS as error:
            raise PaymentRetryLater(str(error)) from error
        intent_apply(attempt, intent, account, now=now)
    status = InvoiceDelivery.objects.get(invoice_id=invoice_id).payment_status
    return _answer(invoice_id, status, account)


def _answer(invoice_id: int, status: str, account) -> PayNow:
    if status == PaymentStatus.REQUIRES_ACTION:
        invoice = Invoice.objects.get(pk=invoice_id)
        waiting = _waiting_intent(invoice, account)
        if waiting is not None:
            return waiting
    delivery = InvoiceDelivery.objects.get(invoice_id=invoice_id)
    error = delivery.last_error if status != PaymentStatus.PAID else ""
    return PayNow(status=status, error=error)
