"""Writing offers through the API: charges as nested objects, versions kept.

    POST /api/v1/offers                  an offer and its version 1
    PUT  /api/v1/offers/{key}            the offer's name, description, public flag and
                                         content. A version no account accepted yet is
                                         edited in place; an accepted one never changes,
                                         so new content makes the next version (existing
                                         entitlements stay on theirs). The same content
                                         again changes nothing.
    GET  /api/v1/offers/{key}/versions   every version, newest first

Charges: `one_time` and `recurring` (an `amount`), usage charges on a metric
(`per_unit`: `unit_price`; `package`: `package_size` and `amount`; `graduated` and
`volume`: `tiers`; `flat`: `amount`), each with optional `free_units`. Fleet admins
write; the checks and their field reasons are the catalog's (`charges[1].tiers`).
"""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response

from catalog.api_access import CatalogApi, CatalogWriteAccess
from catalog.domain.charges import MODELS
from catalog.models import Offer, ServiceClass, TimeUnit
from catalog.offer_apis import OfferOutputSerializer, offer_data
from catalog.selectors import offer_version_get, offer_versions
from catalog.services.offer_settings import offer_settings_update
from catalog.services.offers import OfferContent, offer_create, offer_revise
from core.api import plain_decimal
from cycles.clock import clock_now
from tenancy.selectors import provider_current


@extend_schema_field({"type": "string", "format": "decimal", "example": "0.1"})
class DecimalTextField(serializers.Field):
    """A decimal as a string or a JSON number (read exactly); checked by the catalog."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or data is None:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return None if value is None else plain_decimal(value)


class TierInputSerializer(serializers.Serializer):
    up_to = DecimalTextField(allow_null=True, help_text="Inclusive; null: unbounded (last).")
    unit_price = DecimalTextField()
    flat_fee = DecimalTextField(required=False)


class ChargeInputSerializer(serializers.Serializer):
    model = serializers.ChoiceField(choices=sorted(MODELS))
    name = serializers.CharField(max_length=200, help_text="Printed on invoices.")
    metric = serializers.CharField(required=False, help_text="Usage charges: the metric.")
    service = serializers.CharField(required=False,
                                    help_text="Fixed fees: the service it belongs to.")
    unit_price = DecimalTextField(required=False)
    package_size = DecimalTextField(required=False)
    amount = DecimalTextField(required=False)
    tiers = TierInputSerializer(many=True, required=False)
    free_units = DecimalTextField(required=False)


class OfferFeatureInputSerializer(serializers.Serializer):
    feature = serializers.CharField()
    limit = DecimalTextField(required=False, allow_null=True,
                             help_text="Quotas; omitted: the feature's default limit.")


class DurationPriceInputSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="The resource type.")
    variant = serializers.CharField(required=False, allow_blank=True, default="")
    region = serializers.CharField(required=False, allow_blank=True, default="")
    service_class = serializers.ChoiceField(choices=ServiceClass.choices, required=False,
                                            allow_blank=True, default="")
    rate = DecimalTextField()
    time_unit = serializers.ChoiceField(choices=TimeUnit.choices)


class OfferInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    public = serializers.BooleanField(default=True, help_text="Listed to every consumer; a "
                                      "private offer is for the organizations named with "
                                      "PUT /offers/{key}/consumers.")
    services = serializers.ListField(child=serializers.CharField())
    charges = ChargeInputSerializer(many=True, required=False, default=list)
    features = OfferFeatureInputSerializer(many=True, required=False, default=list)
    duration_prices = DurationPriceInputSerializer(many=True, required=False, default=list)
    notes = serializers.CharField(required=False, allow_blank=True, default="",
                                  help_text="What changed (kept on a new version).")


class OfferCreateInputSerializer(OfferInputSerializer):
    key = serializers.CharField(max_length=100)


def _drop_empty(item: dict) -> dict:
    return {k: v for k, v in item.items() if v is not None}


def offer_content_of(data: dict) -> OfferContent:
    """The validated body as the catalog's offer content."""
    charges = []
    for charge in data["charges"]:
        charge = _drop_empty(dict(charge))
        if "tiers" in charge:
            # `up_to: null` is the unbounded last tier: kept, unlike absent fields.
            charge["tiers"] = [{**_drop_empty(dict(t)), "up_to": t.get("up_to")}
                               for t in charge["tiers"]]
        charges.append(charge)
    return OfferContent(
        services=list(data["services"]), charges=charges,
        features=[_drop_empty(dict(f)) for f in data["features"]],
        duration_prices=[dict(p) for p in data["duration_prices"]],
    )


class OfferWriteOutputSerializer(OfferOutputSerializer):
    new_version = serializers.BooleanField(help_text="This write made a new version.")


def _offer_response(offer_key: str, *, new_version: bool, created: bool = False) -> Response:
    version = offer_version_get(offer_key=offer_key)
    body = {**offer_data(version, currency=provider_current().currency),
            "new_version": new_version}
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class OfferWriteApi(CatalogApi):
    # Shares its path with GET /offers (everyone): see CatalogWriteAccess.
    permission_classes = [permissions.IsAuthenticated, CatalogWriteAccess]


class OfferCreateApi(OfferWriteApi):
    @extend_schema(operation_id="offers_create", summary="Create an offer (its version 1)",
                   request=OfferCreateInputSerializer, responses={201: OfferWriteOutputSerializer})
    def post(self, request):
        serializer = OfferCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        offer_create(key=data["key"], name=data["name"], description=data["description"],
                     public=data["public"], content=offer_content_of(data), now=clock_now(),
                     actor=request.user)
        return _offer_response(data["key"], new_version=True, created=True)


class OfferReviseApi(OfferWriteApi):
    @extend_schema(
        operation_id="offers_update", summary="Change an offer (a new version once accepted)",
        request=OfferInputSerializer, responses={200: OfferWriteOutputSerializer})
    def put(self, request, offer_key: str):
        offer = Offer.objects.filter(key=offer_key).first()
        if offer is None:
            raise exceptions.NotFound(f"no offer {offer_key!r}")
        serializer = OfferInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        before = offer.versions.order_by("-number").values_list("number", flat=True).first()
        offer_settings_update(offer=offer, name=data["name"], description=data["description"],
                              public=data["public"], actor=request.user)
        version = offer_revise(offer=offer, content=offer_content_of(data), now=clock_now(),
                               actor=request.user, notes=data["notes"])
        return _offer_response(offer_key, new_version=version.number != before)


class OfferVersionListApi(CatalogApi):
    @extend_schema(operation_id="offers_versions_list", summary="Every version of an offer",
                   responses=OfferOutputSerializer(many=True))
    def get(self, request, offer_key: str):
        versions = offer_versions(offer_key=offer_key)
        if not versions:
            raise exceptions.NotFound(f"no offer {offer_key!r}")
        currency = provider_current().currency
        return Response([offer_data(v, currency=currency) for v in versions])
