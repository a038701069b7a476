"""Stripe's webhooks, through dj-stripe: each provider's `WebhookEndpoint` (its URL
carries the endpoint's uuid) verifies the signature with its own secret, records the
request (`WebhookEventTrigger`) and the event once (`Event`, by id), and syncs the
objects the event is about (PaymentIntent, PaymentMethod, Charge...). Tally then applies
a payment event to its attempt with the same transitions as the API's answer
(`payment_apply_outcome`, idempotent), so a replayed event changes nothing.

Before dj-stripe sees a request, Tally refuses with a 400 (issue 19): a timestamp more
than 300 s from now either way (Stripe's own check bounds only the past), a bad
signature, and a body that is not one event object with an id.
"""

import json
import time
from dataclasses import dataclass
from datetime import datetime

import stripe
from django.core.exceptions import ValidationError
from django.http import Http404
from djstripe.models import Event, PaymentIntent, WebhookEndpoint, WebhookEventTrigger

from invoicing.models import InvoiceDelivery, PaymentAttempt, PaymentStatus
from invoicing.payments.collection import payment_apply_outcome
from invoicing.payments.stripe_account import WEBHOOK_TOLERANCE_SECONDS
from invoicing.payments.stripe_api import CARD_REFUSED, provider_stripe_or_none

WEBHOOK_BAD_SIGNATURE = "invalid Stripe signature"
WEBHOOK_STALE = "the signature's timestamp is more than 300 seconds from now"
WEBHOOK_NOT_AN_EVENT = "not a Stripe event: a JSON object with an `id`, a `type` and `data`"
WEBHOOK_UNKNOWN_ENDPOINT = "no such Stripe webhook endpoint on this provider"
# What each payment event says of the attempt's PaymentIntent, when its record is gone.
INTENT_STATUS_OF_EVENT = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
    "payment_intent.requires_action": "requires_action",
    "payment_intent.canceled": "failed",
}


@dataclass(frozen=True)
class WebhookOutcome:
    event_id: str
    outcome: str


def endpoint_of_provider(*, uuid) -> WebhookEndpoint:
    """The endpoint named by the URL, if it is this provider's (404 otherwise)."""
    account = provider_stripe_or_none()
    endpoint = WebhookEndpoint.objects.filter(djstripe_uuid=uuid).first()
    if (account is None or endpoint is None
            or endpoint.djstripe_owner_account_id != account.account_id):
        raise Http404(WEBHOOK_UNKNOWN_ENDPOINT)
    return endpoint


def _signed_at(header: str) -> int:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            return int(value)
    raise ValidationError({"signature": [WEBHOOK_BAD_SIGNATURE]})


def webhook_precheck(*, payload: bytes, signature: str, secret: str) -> dict:
    """The checks dj-stripe leaves out, as 400s with a reason. Returns the event."""
    # Stripe signs with its real clock, whatever a sandbox's test clock says.
    if abs(time.time() - _signed_at(signature)) > WEBHOOK_TOLERANCE_SECONDS:
        raise ValidationError({"signature": [WEBHOOK_STALE]})
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret,
                                              WEBHOOK_TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        raise ValidationError({"signature": [WEBHOOK_BAD_SIGNATURE]}) from None
    try:
        event = json.loads(payload)
    except ValueError:
        event = None
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and event["id"]
            and isinstance(event.get("type"), str) and "livemode" in event
            and isinstance(event.get("data"), dict)
            and isinstance(event["data"].get("object"), dict)):
        raise ValidationError({"body": [WEBHOOK_NOT_AN_EVENT]})
    return event


def stripe_webhook_receive(*, request, endpoint: WebhookEndpoint, now: datetime
                           ) -> WebhookOutcome:
    """Verify, record and process one request through dj-stripe, then apply it."""
    payload = request.body
    webhook_precheck(payload=payload, signature=request.headers.get("Stripe-Signature", ""),
                     secret=endpoint.secret)
    trigger = WebhookEventTrigger.from_request(request, webhook_endpoint=endpoint)
    if not trigger.valid or trigger.event is None:
        raise ValidationError({"signature": [WEBHOOK_BAD_SIGNATURE]})
    return WebhookOutcome(event_id=trigger.event.id,
                          outcome=stripe_event_apply(event=trigger.event, now=now))


def stripe_event_apply(*, event: Event, now: datetime) -> str:
    """Apply a recorded event to the payment it is about; returns what it did."""
    obj = (event.data or {}).get("object") or {}
    if event.type == "charge.refunded":
        return _refund_apply(obj.get("payment_intent") or "")
    if event.type not in INTENT_STATUS_OF_EVENT:
        return "ignored: not handled"
    intent_id = obj.get("id", "")
    attempt = _attempt_of(intent_id, (obj.get("metadata") or {}).get("tally_attempt", ""))
    if attempt is None:
        return "ignored: no such payment here"
    record = PaymentIntent.objects.filter(id=intent_id).first()
    status = (record.stripe_data.get("status") if record else None) or (
        INTENT_STATUS_OF_EVENT[event.type])
    if status not in ("succeeded", "processing", "requires_capture", "requires_action"):
        status = "failed"
    last = obj.get("last_payment_error") or {}
    error = CARD_REFUSED.format(message=last.get("message") or "declined") if (
        status == "failed") else ("authentication required" if status == "requires_action"
                                  else "")
    outcome = payment_apply_outcome(attempt_id=attempt.pk, intent_id=intent_id,
                                    intent_status=status, error=error, now=now)
    return f"invoice {attempt.invoice_id}: {outcome}"


def _attempt_of(intent_id: str, key: str) -> PaymentAttempt | None:
    return (
        PaymentAttempt.objects.filter(payment_intent_id=intent_id).first() if intent_id
        else None
    ) or (PaymentAttempt.objects.filter(idempotency_key=key).first() if key else None)


def _refund_apply(intent_id: str) -> str:
    """A refund made outside Tally (in Stripe's dashboard) still shows on the invoice."""
    attempt = _attempt_of(intent_id, "")
    if attempt is None:
        return "ignored: no such payment here"
    updated = InvoiceDelivery.objects.filter(
        invoice_id=attempt.invoice_id, payment_status=PaymentStatus.PAID
    ).update(payment_status=PaymentStatus.REFUNDED)
    status = PaymentStatus.REFUNDED if updated else InvoiceDelivery.objects.get(
        invoice_id=attempt.invoice_id).payment_status
    return f"invoice {attempt.invoice_id}: {status}"
