"""The card a billing account's invoices are charged on.

Stripe holds the card; dj-stripe's models record it (`Customer`, `PaymentMethod`,
`SetupIntent`, in the public schema, owned by the provider's account); Tally's
`PaymentProfile` says which customer and which card are this account's. A card is added
the way Stripe asks: the browser confirms a SetupIntent with Stripe.js (so the card
number never reaches Tally, and 3-D Secure is done once, up front), then Tally attaches
the confirmed payment method. API clients may also give a PaymentMethod id directly.
"""

import logging

import stripe
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from djstripe.models import Customer, PaymentMethod, SetupIntent

from accounts.models import BillingAccount, PaymentKind
from invoicing.models import PaymentProfile
from invoicing.payments.stripe_api import (
    CARD_REFUSED,
    TRANSIENT_STRIPE_ERRORS,
    ProviderStripe,
    provider_stripe,
    stripe_record,
)

logger = logging.getLogger(__name__)

NOT_A_CARD_ACCOUNT = (
    "this billing account pays by internal chargeback: its invoices are statements, "
    "no card is charged"
)
PAYMENT_METHOD_UNKNOWN = "no such payment method: {id}"
SETUP_INTENT_UNKNOWN = "no such card setup for this billing account: {id}"
SETUP_NOT_DONE = "the card setup is not complete ({status}): {reason}"
STRIPE_UNAVAILABLE = "the payment service is unavailable, try again later"
NO_CARD_TO_REMOVE = "this billing account has no card"


def payment_profile_for(*, billing_account: BillingAccount) -> PaymentProfile | None:
    return PaymentProfile.objects.filter(billing_account=billing_account).first()


def _card_account(billing_account: BillingAccount, field: str) -> ProviderStripe:
    if billing_account.payment_kind != PaymentKind.CARD:
        raise ValidationError({field: [NOT_A_CARD_ACCOUNT]})
    return provider_stripe(field)


def _stripe_refusal(error: Exception, field: str, unknown: str) -> ValidationError:
    """Stripe's refusals as a field error (never a 500)."""
    if isinstance(error, stripe.CardError):
        return ValidationError({field: [CARD_REFUSED.format(message=error.user_message or error)]})
    if isinstance(error, TRANSIENT_STRIPE_ERRORS):
        return ValidationError({field: [STRIPE_UNAVAILABLE]})
    return ValidationError({field: [unknown]})


def _customer_ensure(billing_account: BillingAccount, account: ProviderStripe) -> str:
    """The account's Stripe customer, created once (idempotency key per billing account)
    and recorded in dj-stripe's `Customer`."""
    profile = payment_profile_for(billing_account=billing_account)
    if profile is not None:
        return profile.stripe_customer_id
    schema = connection.schema_name
    contact = billing_account.contacts.order_by("email").first()
    customer = stripe.Customer.create(
        name=billing_account.name,
        email=contact.email if contact else None,
        metadata={"tally_schema": schema, "billing_account": str(billing_account.pk)},
        idempotency_key=f"{schema}-billing-account-{billing_account.pk}-customer",
        **account.kwargs(),
    )
    stripe_record(Customer, customer, account)
    _profile_save(billing_account, customer.id, payment_method_id=None)
    return customer.id


def setup_intent_create(*, billing_account: BillingAccount) -> tuple[SetupIntent, str]:
    """A SetupIntent for the browser to confirm with Stripe.js (card element and 3-D
    Secure). Returns the dj-stripe row and the publishable key the page needs."""
    account = _card_account(billing_account, "setup_intent")
    try:
        customer_id = _customer_ensure(billing_account, account)
        intent = stripe.SetupIntent.create(
            customer=customer_id, usage="off_session", payment_method_types=["card"],
            metadata={"tally_schema": connection.schema_name,
                      "billing_account": str(billing_account.pk)},
            **account.kwargs(),
        )
    except stripe.StripeError as error:
        raise _stripe_refusal(error, "setup_intent", STRIPE_UNAVAILABLE) from error
    return stripe_record(SetupIntent, intent, account), account.publishable_key


def setup_intent_complete(*, billing_account: BillingAccount,
                          setup_intent_id: str) -> PaymentProfile:
    """After the browser confirmed the SetupIntent: its card becomes the account's."""
    account = _card_account(billing_account, "setup_intent")
    profile = payment_profile_for(billing_account=billing_account)
    unknown = SETUP_INTENT_UNKNOWN.format(id=setup_intent_id)
    try:
        intent = stripe.SetupIntent.retrieve(setup_intent_id, **account.kwargs())
    except stripe.StripeError as error:
        raise _stripe_refusal(error, "setup_intent", unknown) from error
    stripe_record(SetupIntent, intent, account)
    if profile is None or intent.customer != profile.stripe_customer_id:
        raise ValidationError({"setup_intent": [unknown]})
    if intent.status != "succeeded" or not intent.payment_method:
        error = getattr(intent, "last_setup_error", None)
        reason = (getattr(error, "message", "") if error else "") or "not confirmed"
        raise ValidationError({"setup_intent": [
            SETUP_NOT_DONE.format(status=intent.status, reason=reason)]})
    return _card_use(billing_account, account, payment_method_id=intent.payment_method,
                     field="setup_intent")


def payment_method_set(*, billing_account: BillingAccount, payment_method: str) -> PaymentProfile:
    """Attach `payment_method` (a PaymentMethod id made by the client, e.g. by Stripe.js,
    or a test token such as `pm_card_visa`) to the account's customer and make it the
    card its invoices are charged on. Replaces (and detaches) the previous card."""
    account = _card_account(billing_account, "payment_method")
    try:
        _customer_ensure(billing_account, account)
    except stripe.StripeError as error:
        raise _stripe_refusal(error, "payment_method", STRIPE_UNAVAILABLE) from error
    return _card_use(billing_account, account, payment_method_id=payment_method,
                     field="payment_method")


def _card_use(billing_account: BillingAccount, account: ProviderStripe, *,
              payment_method_id: str, field: str) -> PaymentProfile:
    """Attach the card to the customer (once), record it, make it the one charged."""
    profile = payment_profile_for(billing_account=billing_account)
    customer_id = profile.stripe_customer_id
    try:
        method = stripe.PaymentMethod.retrieve(payment_method_id, **account.kwargs())
        if method.customer != customer_id:
            method = stripe.PaymentMethod.attach(method.id, customer=customer_id,
                                                 **account.kwargs())
    except stripe.StripeError as error:
        raise _stripe_refusal(error, field,
                              PAYMENT_METHOD_UNKNOWN.format(id=payment_method_id)) from error
    stripe_record(PaymentMethod, method, account)
    previous = profile.payment_method_id
    profile = _profile_save(billing_account, customer_id, payment_method_id=method.id)
    if previous and previous != method.id:
        _detach(previous, account)
    return profile


def payment_method_remove(*, billing_account: BillingAccount) -> PaymentProfile:
    """Remove the account's card: detached at Stripe, no longer charged. The customer
    stays, so a new card keeps its history."""
    account = _card_account(billing_account, "payment_method")
    profile = payment_profile_for(billing_account=billing_account)
    if profile is None or not profile.payment_method_id:
        raise ValidationError({"payment_method": [NO_CARD_TO_REMOVE]})
    previous = profile.payment_method_id
    profile = _profile_save(billing_account, profile.stripe_customer_id, payment_method_id="")
    _detach(previous, account)
    return profile


def _detach(payment_method_id: str, account: ProviderStripe) -> None:
    try:
        method = stripe.PaymentMethod.detach(payment_method_id, **account.kwargs())
        stripe_record(PaymentMethod, method, account)
    except stripe.StripeError:  # best effort: the profile no longer charges it
        logger.warning("could not detach replaced payment method %s", payment_method_id)


def _profile_save(billing_account: BillingAccount, customer_id: str, *,
                  payment_method_id: str | None) -> PaymentProfile:
    """The account's profile (created by its customer, whoever races) now charges
    `payment_method_id` (None: unchanged)."""
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
        if payment_method_id is not None and profile.payment_method_id != payment_method_id:
            profile.payment_method_id = payment_method_id
            profile.save()
    return profile
