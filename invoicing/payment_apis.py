"""Card payments over the API: a billing account's card (SetupIntent, add, replace,
remove), paying or refunding an invoice, and Stripe's webhooks (through dj-stripe)."""

import stripe
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import BillingAccount
from accounts.permissions import request_access
from cycles.clock import clock_now
from invoicing.models import Invoice, PaymentProfile
from invoicing.payments.cards import (
    payment_method_remove,
    payment_method_set,
    payment_profile_for,
    setup_intent_complete,
    setup_intent_create,
)
from invoicing.payments.on_session import PayNow, invoice_pay_now, invoice_payment_refresh
from invoicing.payments.refunds import invoice_payment_refund
from invoicing.payments.selectors import card_on_file, invoice_payment_state
from invoicing.payments.stripe_api import TRANSIENT_STRIPE_ERRORS
from invoicing.payments.webhooks import endpoint_of_provider, stripe_webhook_receive
from invoicing.selectors import invoice_list

NOT_ORG_ADMIN = "Only an admin of the organization may change its payment method."
NOT_ORG_ADMIN_PAY = "Only an admin of the organization may pay its invoices."
NOT_FLEET_ADMIN = "Only a fleet billing admin may refund a payment."
ONE_OF = "give one of payment_method or setup_intent"
WEBHOOK_OBJECT_UNKNOWN = "Stripe does not know the object this event is about: {error}"


class PaymentMethodSerializer(serializers.Serializer):
    billing_account = serializers.IntegerField()
    payment_kind = serializers.CharField()
    has_card = serializers.BooleanField()
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField(allow_null=True)
    exp_year = serializers.IntegerField(allow_null=True)


def _payment_method_body(account: BillingAccount, profile: PaymentProfile | None) -> dict:
    card = card_on_file(profile)
    return PaymentMethodSerializer({
        "billing_account": account.pk, "payment_kind": account.payment_kind,
        "has_card": card is not None, "brand": card.brand if card else "",
        "last4": card.last4 if card else "", "exp_month": card.exp_month if card else None,
        "exp_year": card.exp_year if card else None,
    }).data


def _account_or_404(request, billing_account_id: int) -> BillingAccount:
    access = request_access(request)
    accounts = BillingAccount.objects.select_related("organization")
    if not access.sees_fleet:
        accounts = accounts.filter(organization_id__in=access.org_ids)
    return get_object_or_404(accounts, pk=billing_account_id)


def _managed_account(request, billing_account_id: int, message: str) -> BillingAccount:
    account = _account_or_404(request, billing_account_id)
    if not request_access(request).can_manage_org(account.organization_id):
        raise PermissionDenied(message)
    return account


class PaymentMethodApi(APIView):
    """The card a billing account's invoices are charged on: see it (brand and last four
    digits only), add or replace it, remove it (org admins and fleet admins)."""

    class InputSerializer(serializers.Serializer):
        payment_method = serializers.CharField(
            max_length=255, required=False,
            help_text="A Stripe PaymentMethod id created by the client (pm_...).",
        )
        setup_intent = serializers.CharField(
            max_length=255, required=False,
            help_text="A SetupIntent (seti_...) from POST .../setup-intents, confirmed in "
            "the browser with Stripe.js: its card becomes the account's.",
        )

        class Meta:
            ref_name = "PaymentMethodInput"

        def validate(self, attrs):
            if bool(attrs.get("payment_method")) == bool(attrs.get("setup_intent")):
                raise ValidationError({"payment_method": [ONE_OF]})
            return attrs

    @extend_schema(responses=PaymentMethodSerializer)
    def get(self, request, billing_account_id: int):
        account = _account_or_404(request, billing_account_id)
        return Response(_payment_method_body(account, payment_profile_for(billing_account=account)))

    @extend_schema(request=InputSerializer, responses=PaymentMethodSerializer)
    def post(self, request, billing_account_id: int):
        account = _managed_account(request, billing_account_id, NOT_ORG_ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("setup_intent"):
            profile = setup_intent_complete(
                billing_account=account, setup_intent_id=data.validated_data["setup_intent"])
        else:
            profile = payment_method_set(
                billing_account=account, payment_method=data.validated_data["payment_method"])
        return Response(_payment_method_body(account, profile))

    @extend_schema(request=None, responses=PaymentMethodSerializer)
    def delete(self, request, billing_account_id: int):
        account = _managed_account(request, billing_account_id, NOT_ORG_ADMIN)
        profile = payment_method_remove(billing_account=account)
        return Response(_payment_method_body(account, profile))


class SetupIntentSerializer(serializers.Serializer):
    id = serializers.CharField()
    client_secret = serializers.CharField(
        help_text="For Stripe.js `confirmCardSetup` in the customer's browser only.")
    publishable_key = serializers.CharField()


class SetupIntentCreateApi(APIView):
    """Start adding a card: a SetupIntent the browser confirms with Stripe.js, then posts
    to .../payment-method as `setup_intent`."""

    @extend_schema(request=None, responses={201: SetupIntentSerializer})
    def post(self, request, billing_account_id: int):
        account = _managed_account(request, billing_account_id, NOT_ORG_ADMIN)
        intent, publishable_key = setup_intent_create(billing_account=account)
        return Response(SetupIntentSerializer({
            "id": intent.id, "client_secret": intent.stripe_data.get("client_secret", ""),
            "publishable_key": publishable_key}).data, status=201)


class PaymentStateSerializer(serializers.Serializer):
    invoice = serializers.IntegerField()
    payment_status = serializers.CharField()
    label = serializers.CharField()
    card_brand = serializers.CharField(allow_blank=True)
    card_last4 = serializers.CharField(allow_blank=True)
    last_error = serializers.CharField(allow_blank=True)
    payable_now = serializers.BooleanField()
    client_secret = serializers.CharField(
        allow_blank=True, help_text="Set when the bank asks the customer to authenticate "
        "(3-D Secure): confirm it with Stripe.js `confirmCardPayment`, then POST "
        ".../payment/refresh.")
    publishable_key = serializers.CharField(allow_blank=True)


def _state_body(invoice_id: int, pay: PayNow | None = None) -> dict:
    state = invoice_payment_state(invoice_id=invoice_id)
    return PaymentStateSerializer({
        "invoice": invoice_id, "payment_status": state.status, "label": state.label,
        "card_brand": state.card.brand if state.card else "",
        "card_last4": state.card.last4 if state.card else "",
        "last_error": (pay.error if pay else "") or state.last_error,
        "payable_now": state.payable_now,
        "client_secret": pay.client_secret if pay else "",
        "publishable_key": pay.publishable_key if pay else "",
    }).data


def _finalized_invoice(request, invoice_id: int) -> Invoice:
    access = request_access(request)
    invoices = invoice_list(organization_ids=None if access.sees_fleet else access.org_ids)
    invoice = get_object_or_404(invoices.select_related("billing_account"), pk=invoice_id)
    if invoice_payment_state(invoice_id=invoice.pk) is None:
        raise ValidationError({"invoice": ["a draft has no payment"]})
    return invoice


class InvoicePaymentApi(APIView):
    """An invoice's payment state: status, the card it was charged on (brand, last 4)."""

    @extend_schema(responses=PaymentStateSerializer)
    def get(self, request, invoice_id: int):
        return Response(_state_body(_finalized_invoice(request, invoice_id).pk))


class InvoicePayNowApi(APIView):
    """Pay a failed invoice now with the saved card (org admins). When the bank asks for
    3-D Secure, the answer carries the `client_secret` to confirm in the browser."""

    @extend_schema(request=None, responses=PaymentStateSerializer)
    def post(self, request, invoice_id: int):
        invoice = _finalized_invoice(request, invoice_id)
        if not request_access(request).can_manage_org(invoice.billing_account.organization_id):
            raise PermissionDenied(NOT_ORG_ADMIN_PAY)
        pay = invoice_pay_now(invoice_id=invoice.pk, now=clock_now())
        return Response(_state_body(invoice.pk, pay))


class InvoicePaymentRefreshApi(APIView):
    """After Stripe.js authenticated a payment: Tally reads it from Stripe again."""

    @extend_schema(request=None, responses=PaymentStateSerializer)
    def post(self, request, invoice_id: int):
        invoice = _finalized_invoice(request, invoice_id)
        pay = invoice_payment_refresh(invoice_id=invoice.pk, now=clock_now())
        return Response(_state_body(invoice.pk, pay))


class InvoiceRefundApi(APIView):
    """Refund a paid invoice's payment in full (fleet admin), with a reason."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=400)

        class Meta:
            ref_name = "InvoiceRefundInput"

    @extend_schema(request=InputSerializer, responses=PaymentStateSerializer)
    def post(self, request, invoice_id: int):
        if not request_access(request).fleet_admin:
            raise PermissionDenied(NOT_FLEET_ADMIN)
        # The body first: a bad reason is named whatever state the invoice is in.
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invoice = _finalized_invoice(request, invoice_id)
        invoice_payment_refund(invoice_id=invoice.pk, reason=data.validated_data["reason"],
                               now=clock_now())
        return Response(_state_body(invoice.pk))


class StripeWebhookApi(APIView):
    """Stripe events for this provider's account, verified by dj-stripe with the
    endpoint's secret (the uuid in the path), each event id processed once. 400 for a
    bad signature, a timestamp more than 300 s away, or a body that is not an event."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        # 400 and 404 are the error envelope (core.api_schema documents them).
        responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
        description="400 (error envelope): a bad Stripe-Signature, a timestamp more than 300 s "
        "from now either way, or a body that is not one event object with an id. 503: "
        "Stripe could not be reached to sync the event's object (Stripe sends it again).",
    )
    def post(self, request, endpoint_uuid):
        endpoint = endpoint_of_provider(uuid=endpoint_uuid)
        try:
            outcome = stripe_webhook_receive(request=request._request, endpoint=endpoint,
                                             now=clock_now())
        except TRANSIENT_STRIPE_ERRORS as error:
            # Stripe sends the event again later; dj-stripe kept the request and its error.
            raise StripeUnavailable() from error
        except stripe.InvalidRequestError as error:
            raise ValidationError({"body": [WEBHOOK_OBJECT_UNKNOWN.format(
                error=error.user_message or error)]}) from error
        return Response({"received": outcome.event_id, "outcome": outcome.outcome})


class StripeUnavailable(APIException):
    status_code = 503
    default_detail = "Stripe could not be reached to process the event; send it again later."
    default_code = "stripe_unavailable"
