"""Stripe's webhooks: verified, stored once per event id, and applied with the same
transitions as the API's answer (`payment_apply_outcome`)."""

import json
from datetime import datetime

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from invoicing.models import PaymentAttempt, StripeWebhookEvent
from invoicing.payments.collection import payment_apply_outcome
from invoicing.payments.stripe_api import CARD_REFUSED

WEBHOOK_BAD_SIGNATURE = "invalid Stripe signature"
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
        row.outcome = _event_apply(row, obj, intent_id=intent_id, now=now)
        row.save(update_fields=["outcome"])
    return row


def _event_apply(row: StripeWebhookEvent, obj: dict, *, intent_id: str, now: datetime) -> str:
    """Apply a newly stored event to its attempt; returns the outcome the row records."""
    if row.type not in HANDLED_EVENTS:
        return "ignored: not handled"
    key = (obj.get("metadata") or {}).get("tally_attempt", "")
    attempt = (
        PaymentAttempt.objects.filter(payment_intent_id=intent_id).first() if intent_id
        else None
    ) or (PaymentAttempt.objects.filter(idempotency_key=key).first() if key else None)
    if attempt is None:
        # Another provider's payment (one Stripe account serves every schema).
        return "ignored: no such payment here"
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
    return f"invoice {attempt.invoice_id}: {outcome}"
