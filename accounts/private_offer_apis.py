"""Private offers and the consumers they are for; the offers an account may accept.

    GET|PUT /api/v1/offers/{key}/consumers         the organizations a private offer is
                                                   for (fleet roles read, admins write)
    GET     /api/v1/billing-accounts/{id}/offers   the offers the account may accept:
                                                   public ones and private ones made for
                                                   its organization
"""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsFleetAdminOrReadOnlyViewer, request_access
from accounts.private_offers import (
    offers_open_to,
    private_offer_consumers,
    private_offer_consumers_set,
)
from accounts.selectors import billing_account_visible
from catalog.offer_apis import OfferOutputSerializer, offer_data
from catalog.selectors import offer_current_versions
from tenancy.selectors import provider_current


class OfferConsumersSerializer(serializers.Serializer):
    offer = serializers.CharField(read_only=True)
    organizations = serializers.ListField(child=serializers.CharField())


class OfferConsumersApi(APIView):
    permission_classes = [IsFleetAdminOrReadOnlyViewer]

    @extend_schema(operation_id="offers_consumers_list", responses=OfferConsumersSerializer)
    def get(self, request, offer_key: str):
        """List a private offer's consumers.

        The organizations it is meant for."""
        return Response({"offer": offer_key,
                         "organizations": private_offer_consumers(offer_key=offer_key)})

    @extend_schema_serializer(component_name="OfferConsumersInput")
    class InputSerializer(serializers.Serializer):
        organizations = serializers.ListField(child=serializers.CharField(),
                                              help_text="Organization names; [] for none.")

    @extend_schema(operation_id="offers_consumers_set", request=InputSerializer,
                   responses=OfferConsumersSerializer)
    def put(self, request, offer_key: str):
        """Set a private offer's consumers.

        Those organizations' admins may then accept it."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        names = private_offer_consumers_set(
            offer_key=offer_key, organization_names=data.validated_data["organizations"],
            actor=request.user)
        return Response({"offer": offer_key, "organizations": names})


class BillingAccountOffersApi(APIView):
    @extend_schema(operation_id="billing_account_offers_list",
                   summary="Offers this account may accept",
                   responses=OfferOutputSerializer(many=True))
    def get(self, request, billing_account_id: int):
        """Offers this account may accept.

        The public offers and the private ones meant for its organization."""
        account = billing_account_visible(access=request_access(request),
                                          billing_account_id=billing_account_id)
        keys = set(offers_open_to(organization_id=account.organization_id))
        currency = provider_current().currency
        return Response([offer_data(v, currency=currency)
                         for v in offer_current_versions(include_private=True)
                         if v.offer.key in keys])
