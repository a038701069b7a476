"""The offers API: the price book consumers choose from.

    GET  /api/v1/offers                    public offers (fleet roles see private ones too)
    GET  /api/v1/offers/{key}[?version=N]  one offer's latest (or a given) version

Money travels as plain decimal strings, with the provider's currency.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.apis import rate_text
from catalog.selectors import offer_current_versions, offer_version_get
from tenancy.selectors import provider_current


class TierOutputSerializer(serializers.Serializer):
    up_to = serializers.CharField(allow_null=True, help_text="Inclusive; null: unbounded.")
    unit_price = serializers.CharField()
    flat_fee = serializers.CharField()


class ChargeOutputSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="per_unit, package, graduated, volume, flat, "
                                  "one_time or recurring")
    name = serializers.CharField()
    metric = serializers.CharField(allow_null=True)
    unit_price = serializers.CharField(allow_null=True)
    package_size = serializers.CharField(allow_null=True)
    amount = serializers.CharField(allow_null=True)
    tiers = TierOutputSerializer(many=True)
    free_units = serializers.CharField()


class OfferFeatureOutputSerializer(serializers.Serializer):
    feature = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    limit = serializers.CharField(allow_null=True, help_text="Quotas; null for flags.")


class DurationPriceOutputSerializer(serializers.Serializer):
    resource_type = serializers.CharField()
    variant = serializers.CharField(allow_null=True)
    region = serializers.CharField(allow_null=True)
    service_class = serializers.CharField(allow_null=True)
    rate = serializers.CharField()
    unit = serializers.CharField()


class OfferOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    public = serializers.BooleanField()
    version = serializers.IntegerField()
    currency = serializers.CharField()
    services = serializers.ListField(child=serializers.CharField())
    charges = ChargeOutputSerializer(many=True)
    features = OfferFeatureOutputSerializer(many=True)
    duration_prices = DurationPriceOutputSerializer(many=True)


def _plain(value):
    return None if value is None else rate_text(value)


def offer_data(version, *, currency: str) -> dict:
    """An offer version as the API shows it (content prefetched by the selector)."""
    offer = version.offer
    return {
        "key": offer.key, "name": offer.name, "description": offer.description,
        "public": offer.public, "version": version.number, "currency": currency,
        "services": sorted(s.key for s in version.services.all()),
        "charges": [
            {"model": c.model, "name": c.name, "metric": c.metric.key if c.metric else None,
             "unit_price": _plain(c.unit_price), "package_size": _plain(c.package_size),
             "amount": _plain(c.amount), "tiers": c.tiers, "free_units": rate_text(c.free_units)}
            for c in version.price_list.charges.all()
        ],
        "features": [
            {"feature": f.feature.key, "name": f.feature.name, "kind": f.feature.kind,
             "limit": _plain(f.limit if f.limit is not None else f.feature.default_limit)}
            for f in version.features.all()
        ],
        "duration_prices": [
            {"resource_type": p.metric.key, "variant": p.variant or None,
             "region": p.region or None, "service_class": p.service_class or None,
             "rate": rate_text(p.rate), "unit": p.time_unit}
            for p in version.price_list.prices.all()
        ],
    }


class OfferListApi(APIView):
    """GET /api/v1/offers: the public offers (fleet roles also see private ones)."""

    @extend_schema(operation_id="offers_list", summary="Offers consumers can accept",
                   responses=OfferOutputSerializer(many=True))
    def get(self, request):
        versions = offer_current_versions(
            include_private=request.user.has_perm("catalog.view_offer"))
        currency = provider_current().currency
        return Response([offer_data(v, currency=currency) for v in versions])


class OfferDetailApi(APIView):
    """GET /api/v1/offers/{key}[?version=N]: an offer's latest (or a given) version."""

    @extend_schema(
        operation_id="offers_retrieve", summary="One offer",
        parameters=[OpenApiParameter("version", int, description="A past version number.")],
        responses={200: OfferOutputSerializer, 404: OpenApiResponse(description="Not found.")},
    )
    def get(self, request, offer_key: str):
        number = request.query_params.get("version")
        if number is not None and not number.isdigit():
            raise exceptions.ValidationError({"version": ["must be a version number"]})
        version = offer_version_get(offer_key=offer_key,
                                    number=int(number) if number else None)
        if version is None or (not version.offer.public
                               and not request.user.has_perm("catalog.view_offer")):
            raise exceptions.NotFound(f"no offer {offer_key!r}")
        return Response(offer_data(version, currency=provider_current().currency))
