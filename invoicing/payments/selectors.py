"""Reads of payments: the card on file and an invoice's payment state, from Tally's
profile and attempts and dj-stripe's records of the Stripe objects they name."""

from dataclasses import dataclass
from datetime import datetime

from djstripe.models import PaymentMethod

from invoicing.models import (
    InvoiceDelivery,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentProfile,
    PaymentStatus,
)

# Statuses in which the customer may pay from the dashboard ("pay now").
PAYABLE_NOW = (PaymentStatus.FAILED, PaymentStatus.GIVEN_UP, PaymentStatus.REQUIRES_ACTION)


@dataclass(frozen=True)
class Card:
    """A card as people see it: never more than its brand and last four digits."""

    payment_method_id: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None

    def __str__(self) -> str:
        return f"{self.brand.capitalize()} •••• {self.last4}"


def card_of_payment_method(payment_method_id: str) -> Card | None:
    """The card dj-stripe recorded for a PaymentMethod id (None when unknown)."""
    if not payment_method_id:
        return None
    method = PaymentMethod.objects.filter(id=payment_method_id).first()
    return _card(method) if method is not None else None


def _card(method: PaymentMethod) -> Card:
    card = method.stripe_data.get("card") or {}
    return Card(payment_method_id=method.id, brand=card.get("brand") or "",
                last4=card.get("last4") or "", exp_month=card.get("exp_month"),
                exp_year=card.get("exp_year"))


def cards_of_profiles(profiles: list[PaymentProfile]) -> dict[int, Card]:
    """The card of each profile by its billing account id, in one query."""
    ids = {p.payment_method_id: p.billing_account_id for p in profiles if p.payment_method_id}
    return {ids[m.id]: _card(m) for m in PaymentMethod.objects.filter(id__in=list(ids))}


def card_on_file(profile: PaymentProfile | None) -> Card | None:
    """The card a billing account is charged on, or None."""
    return card_of_payment_method(profile.payment_method_id) if profile else None


@dataclass(frozen=True)
class InvoicePaymentState:
    """What an invoice's reader is told of its payment (PDF, pages, API)."""

    status: str
    label: str
    paid_at: datetime | None
    # The card of the attempt that paid (or was last tried): brand and last4 only.
    card: Card | None
    last_error: str
    payable_now: bool


def invoice_payment_state(*, invoice_id: int, delivery: InvoiceDelivery | None = None
                          ) -> InvoicePaymentState | None:
    """The payment state of a finalized invoice (None before it is finalized). Pass the
    invoice's `delivery` when already loaded; two or three queries otherwise."""
    if delivery is None:
        delivery = InvoiceDelivery.objects.filter(invoice_id=invoice_id).first()
    if delivery is None:
        return None
    attempts = list(PaymentAttempt.objects.filter(invoice_id=invoice_id).order_by("-number"))
    paid_by = [a for a in attempts if a.status == PaymentAttemptStatus.SUCCEEDED]
    attempt = (paid_by or attempts or [None])[0]
    status = PaymentStatus(delivery.payment_status)
    return InvoicePaymentState(
        status=status.value, label=status.label, paid_at=delivery.paid_at,
        card=card_of_payment_method(attempt.payment_method_id) if attempt else None,
        last_error=delivery.last_error if delivery.failed_step == "payment" else "",
        payable_now=status in PAYABLE_NOW,
    )
