"""Refunding a paid invoice's payment, once: the refund's idempotency key is derived
from the invoice number, and the attempt that collected it records the refund
(audited), so a repeated request changes nothing."""

from datetime import datetime

import stripe
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from djstripe.models import PaymentIntent

from invoicing.models import (
    InvoiceDelivery,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentStatus,
)
from invoicing.payments.collection import TRANSIENT_STRIPE_ERRORS, PaymentRetryLater
from invoicing.payments.stripe_api import provider_stripe, stripe_record

NOT_PAID = "only a paid invoice can be refunded (payment {status})"
REFUND_REFUSED = "Stripe refused the refund: {message}"


def invoice_payment_refund(*, invoice_id: int, reason: str, now: datetime) -> PaymentAttempt:
    """Refund the payment that paid the invoice, in full. Returns its attempt."""
    account = provider_stripe("invoice")
    delivery = InvoiceDelivery.objects.select_related("invoice").get(invoice_id=invoice_id)
    attempt = PaymentAttempt.objects.filter(
        invoice_id=invoice_id, status=PaymentAttemptStatus.SUCCEEDED).order_by("-number").first()
    if delivery.payment_status == PaymentStatus.REFUNDED and attempt is not None:
        return attempt
    if delivery.payment_status != PaymentStatus.PAID or attempt is None:
        raise ValidationError({"invoice": [NOT_PAID.format(
            status=delivery.get_payment_status_display().lower())]})
    key = f"{connection.schema_name}-invoice-{delivery.invoice.number}-refund"
    try:
        refund = stripe.Refund.create(
            payment_intent=attempt.payment_intent_id,
            metadata={"tally_invoice_number": delivery.invoice.number, "reason": reason[:400]},
            idempotency_key=key, **account.kwargs(),
        )
    except TRANSIENT_STRIPE_ERRORS as error:
        raise PaymentRetryLater(str(error)) from error
    except stripe.StripeError as error:
        raise ValidationError({"invoice": [REFUND_REFUSED.format(
            message=getattr(error, "user_message", "") or error)]}) from error
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        delivery = InvoiceDelivery.objects.select_for_update().get(invoice_id=invoice_id)
        if not attempt.refund_id:
            attempt.refund_id = refund.id
            attempt.refunded_at = now
            attempt.error = f"refunded: {reason}"[:2000]
            attempt.save()
        if delivery.payment_status == PaymentStatus.PAID:
            delivery.payment_status = PaymentStatus.REFUNDED
            delivery.save(update_fields=["payment_status", "updated_at"])
    intent = stripe.PaymentIntent.retrieve(attempt.payment_intent_id, **account.kwargs())
    stripe_record(PaymentIntent, intent, account)
    return attempt
