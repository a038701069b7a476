"""Connecting a provider to its own Stripe account.

dj-stripe keeps, in the public schema, the `Account`, its `APIKey`s (secret and
publishable) and the `WebhookEndpoint` whose signing secret verifies Stripe's events;
the provider's schema keeps which account is its own (`StripeAccount`). Two providers
never share an account, a key or an endpoint: the webhook URL carries the endpoint's
uuid, and an event arriving on another provider's host is refused.
"""

import stripe
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from djstripe.enums import APIKeyType, WebhookEndpointStatus
from djstripe.models import Account, APIKey, WebhookEndpoint
from djstripe.models.api import InvalidStripeAPIKey, get_api_key_details_by_prefix

from invoicing.models import StripeAccount
from invoicing.payments.stripe_api import TRANSIENT_STRIPE_ERRORS, stripe_api_base_set

# Stripe signs each event with a timestamp; we accept 300 s either side (issue 19).
WEBHOOK_TOLERANCE_SECONDS = 300
KEY_INVALID = "not a Stripe {kind} key (sk_test_..., sk_live_..., pk_...)"
KEYS_MODES_DIFFER = "the secret and publishable keys are of different modes (test/live)"
KEY_TAKEN = "this key belongs to another provider's Stripe account"
ACCOUNT_UNREACHABLE = "Stripe did not tell which account this key belongs to: {error}"


def _key_mode(key: str, *, kind: str, field: str) -> bool:
    """The key's livemode; a field error unless it is a key of `kind`."""
    try:
        key_type, livemode = get_api_key_details_by_prefix(key)
    except InvalidStripeAPIKey:
        key_type, livemode = "", None
    expected = APIKeyType.secret if kind == "secret" else APIKeyType.publishable
    if key_type != expected or livemode is None:
        raise ValidationError({field: [KEY_INVALID.format(kind=kind)]})
    return livemode


def _account_id_of(secret_key: str) -> str:
    """Ask Stripe whose key it is (GET /v1/account)."""
    stripe_api_base_set()
    try:
        return stripe.Account.retrieve(api_key=secret_key).id
    except (stripe.StripeError, *TRANSIENT_STRIPE_ERRORS) as error:
        raise ValidationError({"secret_key": [ACCOUNT_UNREACHABLE.format(error=error)]}) from None


def stripe_account_connect(
    *, secret_key: str, publishable_key: str, webhook_secret: str, webhook_url: str = "",
    account_id: str = "",
) -> WebhookEndpoint:
    """Make `secret_key`'s account the provider's own in that key's mode, with its keys
    and the webhook endpoint Stripe signs with `webhook_secret` (shown by Stripe when the
    endpoint is created; its URL is `webhook_path(endpoint)` on the provider's host).

    `account_id` is asked of Stripe when not given (a Stripe-compatible test server may
    not answer /v1/account). Connecting again replaces the keys and the secret; the
    endpoint keeps its uuid, so the URL registered at Stripe stays valid.
    """
    livemode = _key_mode(secret_key, kind="secret", field="secret_key")
    if _key_mode(publishable_key, kind="publishable", field="publishable_key") != livemode:
        raise ValidationError({"publishable_key": [KEYS_MODES_DIFFER]})
    account_id = account_id or _account_id_of(secret_key)
    try:
        with transaction.atomic():
            return _rows_save(account_id=account_id, livemode=livemode, secret_key=secret_key,
                              publishable_key=publishable_key,
                              webhook_secret=webhook_secret, webhook_url=webhook_url)
    except IntegrityError:
        raise ValidationError({"secret_key": [KEY_TAKEN]}) from None


def _rows_save(*, account_id, livemode, secret_key, publishable_key, webhook_secret,
               webhook_url) -> WebhookEndpoint:
    own = StripeAccount.objects.select_for_update().filter(livemode=livemode).first()
    taken = APIKey.objects.filter(secret__in=(secret_key, publishable_key)).exclude(
        djstripe_owner_account_id=account_id)
    others = StripeAccount.objects.exclude(pk=own.pk if own else None)
    if taken.exists() or others.filter(account_id=account_id).exists():
        raise IntegrityError(KEY_TAKEN)
    account, _ = Account.objects.get_or_create(id=account_id,
                                               defaults={"livemode": livemode})
    APIKey.objects.filter(djstripe_owner_account=account, livemode=livemode).exclude(
        secret__in=(secret_key, publishable_key)).delete()
    for key, kind in ((secret_key, APIKeyType.secret), (publishable_key, APIKeyType.publishable)):
        APIKey.objects.update_or_create(secret=key, defaults={
            "type": kind, "livemode": livemode, "djstripe_owner_account": account,
            "name": f"Tally {kind} key",
        })
    endpoint = WebhookEndpoint.objects.filter(djstripe_owner_account=account,
                                              livemode=livemode).first()
    if endpoint is None:
        endpoint = WebhookEndpoint(id=f"we_tally_{account_id}_{int(livemode)}",
                                   djstripe_owner_account=account, livemode=livemode,
                                   enabled_events=["*"], status=WebhookEndpointStatus.enabled)
    endpoint.secret = webhook_secret
    endpoint.url = webhook_url or endpoint.url or "https://tally.invalid/"
    endpoint.djstripe_tolerance = WEBHOOK_TOLERANCE_SECONDS
    endpoint.save()
    if own is None:
        StripeAccount.objects.create(account_id=account_id, livemode=livemode)
    elif own.account_id != account_id:
        own.account_id = account_id
        own.save(update_fields=["account_id", "updated_at"])
    return endpoint


def webhook_path(endpoint: WebhookEndpoint) -> str:
    """Where Stripe posts this provider's events, on the provider's host."""
    return f"/api/v1/stripe/webhook/{endpoint.djstripe_uuid}"


def webhook_endpoint_for(*, account_id: str, livemode: bool) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(djstripe_owner_account_id=account_id,
                                          livemode=livemode).first()
