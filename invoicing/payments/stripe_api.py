"""The Stripe client as Tally calls it: the API key and host from settings, the errors
that mean "try again later", and amounts as Stripe's integers."""

from decimal import Decimal

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError

from core.money import minor_unit

CARD_REFUSED = "the card was refused: {message}"
STRIPE_NOT_CONFIGURED = "card payments are not configured (STRIPE_TEST_SECRET_KEY)"

TRANSIENT_STRIPE_ERRORS = (
    stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError,
)


def stripe_api_key() -> str:
    key = settings.STRIPE_LIVE_SECRET_KEY if settings.STRIPE_LIVE_MODE else (
        settings.STRIPE_TEST_SECRET_KEY
    )
    if not key:
        raise ValidationError({"payment_method": [STRIPE_NOT_CONFIGURED]})
    return key


def stripe_kwargs() -> dict:
    """The keyword arguments of every Stripe call (its API key)."""
    # The API host is global in stripe-python; set it from settings every time so a
    # test (or dev.py) pointing STRIPE_API_HOST at localstripe is always honoured.
    host = getattr(settings, "STRIPE_API_HOST", None)
    if host:
        stripe.api_base = host
    return {"api_key": stripe_api_key()}


def amount_in_minor_units(amount: Decimal, currency: str) -> int:
    """An invoice total (already rounded to the currency's minor unit) as Stripe's integer."""
    return int(amount.scaleb(minor_unit(currency)).to_integral_exact())
