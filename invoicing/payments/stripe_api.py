"""The Stripe client as Tally calls it: the provider's own keys (dj-stripe's `APIKey`
rows of the provider's `Account`), the errors that mean "try again later", amounts as
Stripe's integers, and Stripe's answers recorded in dj-stripe's models."""

from dataclasses import dataclass
from decimal import Decimal

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from djstripe.enums import APIKeyType
from djstripe.models import APIKey

from core.money import minor_unit
from invoicing.models import StripeAccount

CARD_REFUSED = "the card was refused: {message}"
STRIPE_NOT_CONFIGURED = (
    "card payments are not configured for this provider: connect its Stripe account "
    "(admin: Stripe accounts, or manage.py stripe_connect)"
)

TRANSIENT_STRIPE_ERRORS = (
    stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError,
)


@dataclass(frozen=True)
class ProviderStripe:
    """The provider's Stripe account in the current mode, and its keys."""

    account_id: str
    livemode: bool
    secret_key: str
    publishable_key: str

    def kwargs(self) -> dict:
        """The keyword arguments of every Stripe call made for this provider."""
        stripe_api_base_set()
        return {"api_key": self.secret_key}


def stripe_api_base_set() -> None:
    # The API host is global in stripe-python; set it from settings every time so a
    # test (or dev.py) pointing STRIPE_API_HOST at localstripe is always honoured.
    host = getattr(settings, "STRIPE_API_HOST", None)
    if host:
        stripe.api_base = host


def provider_stripe_or_none() -> ProviderStripe | None:
    """The current provider's Stripe account in the configured mode, or None."""
    livemode = bool(settings.STRIPE_LIVE_MODE)
    account = StripeAccount.objects.filter(livemode=livemode).first()
    if account is None:
        return None
    keys = {
        key.type: key.secret
        for key in APIKey.objects.filter(
            djstripe_owner_account_id=account.account_id, livemode=livemode,
            type__in=(APIKeyType.secret, APIKeyType.publishable),
        ).order_by("djstripe_created")
    }
    if not keys.get(APIKeyType.secret):
        return None
    return ProviderStripe(account_id=account.account_id, livemode=livemode,
                          secret_key=keys[APIKeyType.secret],
                          publishable_key=keys.get(APIKeyType.publishable, ""))


def provider_stripe(field: str = "payment_method") -> ProviderStripe:
    """The current provider's Stripe account; a field error when it has none."""
    found = provider_stripe_or_none()
    if found is None:
        raise ValidationError({field: [STRIPE_NOT_CONFIGURED]})
    return found


def stripe_record(model, stripe_object, account: ProviderStripe):
    """Record a Stripe answer (customer, payment method, intent...) in dj-stripe's model,
    owned by the provider's account. Returns the dj-stripe row."""
    return model.sync_from_stripe_data(stripe_object, api_key=account.secret_key)


def amount_in_minor_units(amount: Decimal, currency: str) -> int:
    """An invoice total (already rounded to the currency's minor unit) as Stripe's integer."""
    return int(amount.scaleb(minor_unit(currency)).to_integral_exact())
