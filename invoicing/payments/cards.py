"""The card a billing account's invoices are charged on: its Stripe customer, its
payment method, and the brand and last four digits Tally shows."""

import logging

import stripe
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from accounts.models import BillingAccount, PaymentKind
from invoicing.models import PaymentProfile
from invoicing.payments.stripe_api import CARD_REFUSED, TRANSIENT_STRIPE_ERRORS, stripe_kwargs

logger = logging.getLogger(__name__)

NOT_A_CARD_ACCOUNT = (
    "this billing account pays by internal chargeback: its invoices are statements, "
    "no card is charged"
)
PAYMENT_METHOD_UNKNOWN = "no such payment method: {id}"
STRIPE_UNAVAILABLE = "the payment service is unavailable, try again later"


def payment_profile_for(*, billing_account: BillingAccount) -> PaymentProfile | None:
    return PaymentProfile.objects.filter(billing_account=billing_account).first()


def payment_method_set(*, billing_account: BillingAccount, payment_method: str) -> PaymentProfile:
    """Attach `payment_method` (a PaymentMethod id created by the client, e.g. by Stripe.js,
    or a test token such as `pm_card_visa`) to the account's Stripe customer and make it
    the card its invoices are charged on. Replaces (and detaches) the previous card."""
    if billing_account.payment_kind != PaymentKind.CARD:
        raise ValidationError({"payment_method": [NOT_A_CARD_ACCOUNT]})
    kwargs = stripe_kwargs()
    profile = payment_profile_for(billing_account=billing_account)
    customer_id, method = _card_attach(billing_account, profile, payment_method, kwargs)
    previous_method = profile.payment_method_id if profile else ""
    profile = _profile_save(billing_account, customer_id, method)
    if previous_method and previous_method != method.id:
        try:
            stripe.PaymentMethod.detach(previous_method, **kwargs)
        except stripe.StripeError:  # best effort: the new card is already the one charged
            logger.warning("could not detach replaced payment method %s", previous_method)
    return profile


def _card_attach(billing_account: BillingAccount, profile: PaymentProfile | None,
                 payment_method: str, kwargs: dict):
    """Attach the payment method to the account's customer (created on the first card).
    Returns (customer id, attached PaymentMethod); Stripe's refusals as field errors."""
    try:
        if profile is None:
            customer_id = _customer_create(billing_account, kwargs)
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
    return customer_id, method


def _customer_create(billing_account: BillingAccount, kwargs: dict) -> str:
    schema = connection.schema_name
    contact = billing_account.contacts.order_by("email").first()
    customer = stripe.Customer.create(
        name=billing_account.name,
        email=contact.email if contact else None,
        metadata={"tally_schema": schema, "billing_account": str(billing_account.pk)},
        idempotency_key=f"{schema}-billing-account-{billing_account.pk}-customer",
        **kwargs,
    )
    return customer.id


def _profile_save(billing_account: BillingAccount, customer_id: str, method) -> PaymentProfile:
    """The account's profile (created by the first card, whoever races) now shows `method`."""
    card = method.card
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
    return profile
