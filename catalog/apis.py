"""The Billing API of the chargeback seed: the fleet's list prices.

    GET  /api/v1/system/billing                          current and scheduled prices
    GET  /api/v1/system/billing/{resource_type}          one resource type's prices
    PUT  /api/v1/system/billing/{resource_type}          set a price (fleet admin)
    GET  /api/v1/system/billing/{resource_type}/history  the audit trail, paginated

Fleet admins and fleet viewers read; only fleet admins write. Anyone else gets
404, as if `/system` did not exist. There is no DELETE: a price can be set to 0
but never deleted (405 with the reason).

Rates travel as strings. A PUT may send `rate` as a JSON string ("0.10") or a
JSON number (0.10): request bodies are parsed with numbers read straight into
Decimal, never through float, so both arrive exactly.
"""

from datetime import UTC
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.dry_run import DRY_RUN_PARAMETER, DryRunOutputSerializer, dry_run_response, is_dry_run
from catalog.models import PriceChangeSource, ServiceClass, TimeUnit
from catalog.previews import price_change_impact
from catalog.selectors import (
    metric_get,
    price_change_latest,
    price_get,
    price_history,
    prices_current_and_scheduled,
)
from catalog.services.list_prices import price_set
from catalog.services.resource_types import RESOURCE_TYPE_NOT_FOUND, ResourceTypeNotFound
from core.api import DecimalJSONParser, StandardPagination
from core.errors import Conflict
from core.money import to_decimal
from core.periods import ERR_INSTANT_RANGE, instant_utc
from cycles.clock import clock_now
from tenancy.selectors import provider_current

PRICE_NOT_DELETABLE = (
    "Prices cannot be deleted: set the price to 0 instead (PUT with \"rate\": \"0\")."
)
FLEET_ADMIN_ONLY = "Only a fleet billing admin may change prices."
RATE_FORMAT = "must be a decimal number, as a string (\"0.10\") or a JSON number"
EFFECTIVE_FROM_FORMAT = "must be an ISO-8601 date and time with a UTC offset"
EFFECTIVE_FROM_NAIVE = "must carry a UTC offset (e.g. 2026-03-01T00:00:00Z)"


# --- fields --------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.STR)
class RateField(serializers.Field):
    """A rate: a string or JSON number, read exactly as Decimal; written as a string."""

    default_error_messages = {"invalid": RATE_FORMAT}

    def to_internal_value(self, data):
        try:
            return to_decimal(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value):
        return rate_text(value)


@extend_schema_field(OpenApiTypes.DATETIME)
class AwareDateTimeField(serializers.Field):
    """ISO-8601 with an offset; naive date-times are refused, not guessed."""

    default_error_messages = {"invalid": EFFECTIVE_FROM_FORMAT, "naive": EFFECTIVE_FROM_NAIVE,
                              "range": ERR_INSTANT_RANGE}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            parsed = parse_datetime(data.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            self.fail("naive")
        try:
            return instant_utc(parsed)
        except ValueError:
            self.fail("range")

    def to_representation(self, value):
        return iso_utc(value)


def rate_text(rate: Decimal | None) -> str | None:
    """A rate as a plain decimal string without trailing zeros ("0.1", "12", "0")."""
    if rate is None:
        return None
    return format(rate.normalize(), "f")


def iso_utc(value):
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- access --------------------------------------------------------------------------


class SeesFleetBilling(permissions.BasePermission):
    """Fleet admins and viewers may see `/system`; anyone else gets 404, not 403,
    so the endpoint does not reveal itself."""

    def has_permission(self, request, view):
        if not request.user.has_perm("catalog.view_price"):
            raise exceptions.NotFound()
        return True


def _require_fleet_admin(request) -> None:
    if not request.user.has_perm("catalog.change_price"):
        raise exceptions.PermissionDenied(FLEET_ADMIN_ONLY)


def _metric_or_404(key: str):
    metric = metric_get(key=key)
    if metric is None:
        raise exceptions.NotFound(RESOURCE_TYPE_NOT_FOUND.format(key=key))
    return metric


# --- output --------------------------------------------------------------------------


class PriceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    resource_type = serializers.CharField(source="metric.key")
    resource_type_name = serializers.CharField(source="metric.name")
    variant = serializers.CharField(allow_null=True)
    variant_description = serializers.CharField(allow_null=True)
    region = serializers.CharField(allow_null=True)
    service_class = serializers.CharField(allow_null=True)
    rate = serializers.CharField()
    unit = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    valid_from = serializers.DateTimeField()
    valid_to = serializers.DateTimeField(allow_null=True)
    scheduled = serializers.BooleanField()


class PriceChangeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    price_id = serializers.IntegerField()
    resource_type = serializers.CharField()
    variant = serializers.CharField(allow_null=True)
    region = serializers.CharField(allow_null=True)
    service_class = serializers.CharField(allow_null=True)
    previous_rate = serializers.CharField(allow_null=True)
    rate = serializers.CharField()
    unit = serializers.CharField(allow_null=True)
    effective_from = serializers.DateTimeField()
    changed_at = serializers.DateTimeField()
    changed_by = serializers.CharField(allow_null=True)
    source = serializers.CharField()


def price_data(price, *, now, currency: str) -> dict:
    """A price as the API shows it: "" dimensions ("any") become null."""
    description = getattr(price, "variant_description", None)
    return {
        "id": price.pk,
        "resource_type": price.metric.key,
        "resource_type_name": price.metric.name,
        "variant": price.variant or None,
        "variant_description": description if price.variant else None,
        "region": price.region or None,
        "service_class": price.service_class or None,
        "rate": rate_text(price.rate),
        "unit": price.time_unit or None,
        "currency": currency,
        "valid_from": iso_utc(price.valid_from),
        "valid_to": iso_utc(price.valid_to),
        "scheduled": price.valid_from > now,
    }


def change_data(change) -> dict | None:
    if change is None:
        return None
    price = change.price
    return {
        "id": change.pk,
        "price_id": price.pk,
        "resource_type": price.metric.key,
        "variant": price.variant or None,
        "region": price.region or None,
        "service_class": price.service_class or None,
        "previous_rate": rate_text(change.previous_rate),
        "rate": rate_text(price.rate),
        "unit": price.time_unit or None,
        "effective_from": iso_utc(change.effective_from),
        "changed_at": iso_utc(change.changed_at),
        "changed_by": change.changed_by.username if change.changed_by else None,
        "source": change.source,
    }


_PRICES_OUTPUT = inline_serializer(
    name="PriceListOutput",
    fields={
        "currency": serializers.CharField(),
        "prices": PriceOutputSerializer(many=True),
    },
)
_HISTORY_OUTPUT = inline_serializer(
    name="PriceHistoryPage",
    fields={
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": PriceChangeOutputSerializer(many=True),
    },
)
_RESOURCE_TYPE_PATH = OpenApiParameter(
    "resource_type", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="The resource type's key, e.g. instance, disk, vpc, ip.",
)
_ERROR = OpenApiResponse(description="The error envelope.")


class _NoDeleteMixin:
    """DELETE answers 405 with the reason; Allow lists what the path accepts."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        if request.method == "DELETE":
            raise exceptions.MethodNotAllowed(request.method, detail=PRICE_NOT_DELETABLE)
        return super().http_method_not_allowed(request, *args, **kwargs)


def _prices_response(*, metric_key: str | None) -> Response:
    now = clock_now()
    currency = provider_current().currency
    prices = prices_current_and_scheduled(now=now, metric_key=metric_key)
    body = {
        "currency": currency,
        "prices": [price_data(p, now=now, currency=currency) for p in prices],
    }
    return Response(body)


# --- views ---------------------------------------------------------------------------


class SystemBillingApi(_NoDeleteMixin, APIView):
    """GET /system/billing: every resource type's current and scheduled list prices."""

    permission_classes = [permissions.IsAuthenticated, SeesFleetBilling]

    @extend_schema(
        operation_id="system_billing_list",
        summary="Current and scheduled list prices of every resource type",
        responses={200: _PRICES_OUTPUT, 401: _ERROR, 404: _ERROR},
    )
    def get(self, request):
        return _prices_response(metric_key=None)


class ResourceTypeBillingApi(_NoDeleteMixin, APIView):
    """GET and PUT /system/billing/{resource_type}: one type's prices, and setting one.

    One path, two operations; each has its own input and output serializers.
    """

    permission_classes = [permissions.IsAuthenticated, SeesFleetBilling]
    parser_classes = [DecimalJSONParser, FormParser, MultiPartParser]

    class PriceSetInputSerializer(serializers.Serializer):
        variant = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, default=None,
            help_text="Variant key; null or omitted: any variant.",
        )
        region = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, default=None,
            help_text="Region key; null or omitted: any region.",
        )
        service_class = serializers.ChoiceField(
            choices=ServiceClass.choices, required=False, allow_null=True, allow_blank=True,
            default=None, help_text="null or omitted: any class.",
        )
        rate = RateField(help_text="Money per unit, up to 10 decimal places; 0 is allowed.")
        unit = serializers.ChoiceField(
            choices=TimeUnit.choices, required=False, allow_blank=True, default="",
            help_text="Required for resource types (billed by running time).",
        )
        effective_from = AwareDateTimeField(
            required=False, allow_null=True, default=None,
            help_text=(
                "ISO-8601 with offset. Omitted: from the start of the current billing cycle. "
                "Must not fall before the end of the last finalized cycle (409)."
            ),
        )

    class PriceSetOutputSerializer(serializers.Serializer):
        price = PriceOutputSerializer()
        change = PriceChangeOutputSerializer(allow_null=True)

    @extend_schema(
        operation_id="system_billing_resource_type_get",
        summary="Current and scheduled list prices of one resource type",
        parameters=[_RESOURCE_TYPE_PATH],
        responses={200: _PRICES_OUTPUT, 401: _ERROR, 404: _ERROR},
    )
    def get(self, request, resource_type: str):
        _metric_or_404(resource_type)
        return _prices_response(metric_key=resource_type)

    @extend_schema(
        operation_id="system_billing_resource_type_set",
        summary="Set the price of a resource type (fleet admin)",
        description=(
            "Without `effective_from` the price applies from the start of the billing cycle "
            "containing now, and to every later cycle; with it, from that instant, which "
            "must not fall before the end of the last finalized cycle (409). From its "
            "instant the price replaces whatever was in force or scheduled for the same "
            "key (resource type, variant, region, service class; null = any). `rate` may "
            "be a string or a JSON number: numbers are read as exact decimals, never "
            "floats. Repeating the same PUT changes nothing. Prices cannot be deleted: "
            "set 0 instead."
        ),
        parameters=[_RESOURCE_TYPE_PATH, DRY_RUN_PARAMETER],
        request=PriceSetInputSerializer,
        responses={200: PolymorphicProxySerializer(
                       component_name="PriceSetOrDryRun",
                       serializers=[PriceSetOutputSerializer, DryRunOutputSerializer],
                       resource_type_field_name=None),
                   400: _ERROR, 401: _ERROR, 403: _ERROR, 404: _ERROR, 409: _ERROR},
    )
    def put(self, request, resource_type: str):
        _require_fleet_admin(request)
        _metric_or_404(resource_type)
        serializer = self.PriceSetInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        now = clock_now()

        def set_price():
            return price_set(
                metric_key=resource_type,
                variant=data["variant"] or "",
                region=data["region"] or "",
                service_class=data["service_class"] or "",
                rate=data["rate"],
                time_unit=data["unit"],
                effective_from=data["effective_from"],
                now=now,
                actor=request.user,
                source=PriceChangeSource.API,
            )

        try:
            if is_dry_run(request):
                return dry_run_response(price_change_impact(apply=set_price, now=now))
            price = set_price()
        except ResourceTypeNotFound as missing:
            raise exceptions.NotFound(str(missing)) from None
        except Conflict:
            raise  # 409 `cycle_finalized` or `before_billing_start` (core.api_errors)
        except ValidationError as invalid:
            raise exceptions.ValidationError(_api_fields(invalid.message_dict)) from None
        shown = price_get(price_id=price.pk)
        currency = provider_current().currency
        body = {
            "price": price_data(shown, now=now, currency=currency),
            "change": change_data(price_change_latest(price=price)),
        }
        return Response(body, status=status.HTTP_200_OK)


def _api_fields(message_dict: dict[str, list[str]]) -> dict[str, list[str]]:
    """Service field names as the API spells them (`time_unit` is `unit` in the body)."""
    return {("unit" if k == "time_unit" else k): v for k, v in message_dict.items()}


class ResourceTypeBillingHistoryApi(APIView):
    """GET /system/billing/{resource_type}/history: who changed what, when, from when."""

    permission_classes = [permissions.IsAuthenticated, SeesFleetBilling]

    @extend_schema(
        operation_id="system_billing_resource_type_history",
        summary="The audit trail of one resource type's prices, newest first",
        parameters=[_RESOURCE_TYPE_PATH],
        responses={200: _HISTORY_OUTPUT, 401: _ERROR, 404: _ERROR},
    )
    def get(self, request, resource_type: str):
        _metric_or_404(resource_type)
        paginator = StandardPagination()
        page = paginator.paginate_queryset(
            price_history(metric_key=resource_type), request, view=self
        )
        return paginator.get_paginated_response([change_data(c) for c in page])
