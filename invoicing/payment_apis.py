"""Card payments over the API: a billing account's card, and Stripe's webhooks."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import BillingAccount
from accounts.permissions import request_access
from cycles.clock import clock_now
from invoicing.models import PaymentProfile
from invoicing.payments.cards import payment_method_set, payment_profile_for
from invoicing.payments.webhooks import stripe_webhook_receive

NOT_ORG_ADMIN = "Only an admin of the organization may change its payment method."


class PaymentMethodSerializer(serializers.Serializer):
    billing_account = serializers.IntegerField()
    payment_kind = serializers.CharField()
    has_card = serializers.BooleanField()
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField(allow_null=True)
    exp_year = serializers.IntegerField(allow_null=True)


def _payment_method_body(account: BillingAccount, profile: PaymentProfile | None) -> dict:
    card = profile if profile and profile.payment_method_id else None
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


class PaymentMethodApi(APIView):
    """The card a billing account's invoices are charged on: see it (brand and last four
    digits only) and add or replace it (org admins and fleet admins)."""

    class InputSerializer(serializers.Serializer):
        payment_method = serializers.CharField(
            max_length=255,
            help_text="A Stripe PaymentMethod id created by the client (pm_...).",
        )

        class Meta:
            ref_name = "PaymentMethodInput"

    @extend_schema(responses=PaymentMethodSerializer)
    def get(self, request, billing_account_id: int):
        account = _account_or_404(request, billing_account_id)
        return Response(_payment_method_body(account, payment_profile_for(billing_account=account)))

    @extend_schema(request=InputSerializer, responses=PaymentMethodSerializer)
    def post(self, request, billing_account_id: int):
        account = _account_or_404(request, billing_account_id)
        if not request_access(request).can_manage_org(account.organization_id):
            raise PermissionDenied(NOT_ORG_ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = payment_method_set(
            billing_account=account, payment_method=data.validated_data["payment_method"]
        )
        return Response(_payment_method_body(account, profile))


class StripeWebhookApi(APIView):
    """Stripe events (signature verified with STRIPE_WEBHOOK_SECRET; each event id once)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        event = stripe_webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", ""),
            now=clock_now(),
        )
        return Response({"received": event.event_id, "outcome": event.outcome})
