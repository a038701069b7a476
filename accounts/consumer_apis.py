"""Consumer API: entitlements of billing accounts, entitlement and quota checks, and the
upcoming invoice.

    GET  /api/v1/billing-accounts/{id}/entitlements            who may see the account's org
    POST /api/v1/billing-accounts/{id}/entitlements {offer}    org admin (private: fleet admin)
    POST /api/v1/billing-accounts/{id}/entitlements/{eid}/end  org admin
    GET  /api/v1/billing-accounts/{id}/upcoming-invoice        who may see the account's org
    POST /api/v1/entitlements/check    {project, feature, quantity?}  who may see the project
    POST /api/v1/entitlements/reserve  {project, feature, quantity}   fleet admin
    POST /api/v1/entitlements/release  {project, feature, quantity}   fleet admin

Outside one's scope the answer is 404; a write one may see but not do is 403.
"""

import re
from decimal import Context, Decimal

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.entitlements import entitlement_accept, entitlement_end
from accounts.permissions import request_access
from accounts.quota import QuotaAnswer, quota_check_named, quota_release, quota_reserve
from accounts.selectors import (
    billing_account_visible,
    entitlement_get,
    entitlement_list,
    project_visible_named,
)
from core.api import DecimalJSONParser, PlainDecimalField, plain_decimal
from cycles.clock import clock_now

NOT_ORG_ADMIN = "Only an admin of this organization (or a fleet admin) may do this."
FLEET_ADMIN_ONLY = "Only a fleet billing admin may reserve or release quota."
DATED_BY_FLEET_ADMINS = (
    "Only a fleet billing admin dates an entitlement in the past (importing history)."
)


def _account(request, billing_account_id: int):
    return billing_account_visible(access=request_access(request),
                                   billing_account_id=billing_account_id)


def _require_manage(request, account) -> None:
    if not request_access(request).can_manage_org(account.organization_id):
        raise exceptions.PermissionDenied(NOT_ORG_ADMIN)


@extend_schema_serializer(component_name="Entitlement")
class EntitlementOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    billing_account = serializers.IntegerField()
    offer = serializers.CharField()
    offer_name = serializers.CharField()
    version = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True, help_text="Exclusive; null: active.")
    active = serializers.BooleanField()


def entitlement_data(entitlement, *, now) -> dict:
    version = entitlement.offer_version
    return {
        "id": entitlement.pk, "billing_account": entitlement.billing_account_id,
        "offer": version.offer.key, "offer_name": version.offer.name,
        "version": version.number, "start": entitlement.start, "end": entitlement.end,
        "active": entitlement.start <= now and (entitlement.end is None or entitlement.end > now),
    }


class EntitlementListApi(APIView):
    @extend_schema(operation_id="billing_account_entitlements_list",
                   summary="A billing account's entitlements, newest first",
                   responses=EntitlementOutputSerializer(many=True))
    def get(self, request, billing_account_id: int):
        account = _account(request, billing_account_id)
        now = clock_now()
        return Response([entitlement_data(e, now=now)
                         for e in entitlement_list(billing_account=account)])


class EntitlementAcceptApi(APIView):
    class InputSerializer(serializers.Serializer):
        offer = serializers.SlugField(help_text="The offer's key.")
        version = serializers.IntegerField(required=False, min_value=1,
                                           help_text="Default: the latest version.")
        accepted_at = serializers.DateTimeField(
            required=False, allow_null=True,
            help_text="Fleet admins, to import history: when it was accepted (ISO 8601 with "
            "offset; default now). Not before the billing start nor in a finalized cycle "
            "(409).")

    @extend_schema(
        operation_id="billing_account_entitlements_create",
        summary="Accept an offer for the account: an entitlement active from now",
        request=InputSerializer,
        responses={201: EntitlementOutputSerializer,
                   409: OpenApiResponse(description="Already entitled to this offer.")},
    )
    def post(self, request, billing_account_id: int):
        account = _account(request, billing_account_id)
        _require_manage(request, account)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        now = clock_now()
        at = data.validated_data.get("accepted_at")
        if at is not None and not request_access(request).fleet_admin:
            raise exceptions.PermissionDenied(DATED_BY_FLEET_ADMINS)
        entitlement = entitlement_accept(
            billing_account=account, offer_key=data.validated_data["offer"],
            version_number=data.validated_data.get("version"), now=now, actor=request.user,
            allow_private=request_access(request).fleet_admin, at=at,
        )
        entitlement = entitlement_get(billing_account=account, entitlement_id=entitlement.pk)
        return Response(entitlement_data(entitlement, now=now), status=status.HTTP_201_CREATED)


class EntitlementEndApi(APIView):
    @extend_schema_serializer(component_name="EntitlementEndInput")
    class InputSerializer(serializers.Serializer):
        ended_at = serializers.DateTimeField(
            required=False, allow_null=True,
            help_text="Fleet admins, to import history: when it ended (default now).")

    @extend_schema(operation_id="billing_account_entitlements_end",
                   summary="End an entitlement now (recurring charges prorate to now)",
                   request=InputSerializer, responses=EntitlementOutputSerializer)
    def post(self, request, billing_account_id: int, entitlement_id: int):
        account = _account(request, billing_account_id)
        entitlement = entitlement_get(billing_account=account, entitlement_id=entitlement_id)
        _require_manage(request, account)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        at = data.validated_data.get("ended_at")
        if at is not None and not request_access(request).fleet_admin:
            raise exceptions.PermissionDenied(DATED_BY_FLEET_ADMINS)
        now = clock_now()
        entitlement_end(entitlement=entitlement, now=now, actor=request.user, at=at)
        entitlement = entitlement_get(billing_account=account, entitlement_id=entitlement_id)
        return Response(entitlement_data(entitlement, now=now))


# --- checks and reservations ---------------------------------------------------------


class QuotaInputSerializer(serializers.Serializer):
    project = serializers.SlugField()
    feature = serializers.CharField(max_length=100)
    quantity = serializers.DecimalField(max_digits=30, decimal_places=10, required=False,
                                        min_value=0, help_text="Quotas: how much more.")


@extend_schema_serializer(component_name="QuotaAnswer")
class QuotaOutputSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.CharField(help_text="allowed, unknown_feature, no_billing_account, "
                                   "not_entitled or quota_exceeded")
    message = serializers.CharField()
    project = serializers.CharField()
    feature = serializers.CharField()
    kind = serializers.CharField(allow_null=True, help_text="flag or quota")
    limit = PlainDecimalField(allow_null=True, help_text="null: unlimited or a flag")
    used = PlainDecimalField(allow_null=True)
    remaining = PlainDecimalField(allow_null=True)
    reserved = PlainDecimalField(allow_null=True, required=False)


def quota_data(answer: QuotaAnswer) -> dict:
    return {
        "allowed": answer.allowed, "reason": answer.reason, "message": answer.message,
        "project": answer.project, "feature": answer.feature, "kind": answer.kind,
        "limit": answer.limit, "used": answer.used, "remaining": answer.remaining,
        "reserved": answer.reserved,
    }


# The entitlement check is the hottest read there is, and building DRF serializers
# (a deep copy of their fields per request) cost about a quarter of its CPU. Well-formed
# input and every answer skip them; a test holds both paths equal, and anything the
# fast path does not recognise goes through QuotaInputSerializer, errors and all.
_FAST_PROJECT = re.compile(r"[-a-zA-Z0-9_]+")
_FAST_FEATURE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
_FAST_QUANTITY = re.compile(r"[0-9]{1,20}(\.[0-9]{1,10})?")
_TEN_PLACES = Decimal("1E-10")
_THIRTY_DIGITS = Context(prec=30)  # QuotaInputSerializer's max_digits, as DRF quantizes


def quota_input_fast(data) -> dict | None:
    """QuotaInputSerializer's validated_data for input it would surely accept, else None."""
    if type(data) is not dict or not data.keys() <= {"project", "feature", "quantity"}:
        return None
    project, feature = data.get("project"), data.get("feature")
    if (type(project) is not str or type(feature) is not str
            or not _FAST_PROJECT.fullmatch(project) or not _FAST_FEATURE.fullmatch(feature)):
        return None
    values = {"project": project, "feature": feature}
    if "quantity" in data:
        quantity = data["quantity"]
        if type(quantity) is str and _FAST_QUANTITY.fullmatch(quantity):
            quantity = Decimal(quantity)
        elif type(quantity) is int and 0 <= quantity < 10**20:
            quantity = Decimal(quantity)
        elif not (type(quantity) is Decimal and quantity.is_finite() and not quantity.is_signed()
                  and -10 <= quantity.as_tuple().exponent <= 0 and quantity.adjusted() < 20):
            return None
        values["quantity"] = quantity.quantize(_TEN_PLACES, context=_THIRTY_DIGITS)
    return values


def quota_payload(answer: QuotaAnswer) -> dict:
    """What QuotaOutputSerializer prints for `answer` (decimals as plain strings)."""
    data = quota_data(answer)
    for name in ("limit", "used", "remaining", "reserved"):
        if data[name] is not None:
            data[name] = plain_decimal(data[name])
    return data


def _quota_values(request) -> dict:
    values = quota_input_fast(request.data)
    if values is None:
        data = QuotaInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
    return values


def _quota_input(request):
    values = _quota_values(request)
    project = project_visible_named(access=request_access(request), name=values["project"])
    if project is None:
        raise Http404(f"no project {values['project']!r}")
    return project, values


def _quota_response(answer: QuotaAnswer) -> Response:
    return Response(quota_payload(answer))


class EntitlementCheckApi(APIView):
    parser_classes = [DecimalJSONParser]
    # A check changes nothing: a `read`-scoped key may ask it.
    api_key_read_methods = ("POST",)

    @extend_schema(
        operation_id="entitlements_check",
        summary="May a project use a feature (or this much more of a quota) now?",
        description="Fast: reads the account's feature grant and one counter row, never "
        "usage. 200 with `allowed` true or false and the reason.",
        request=QuotaInputSerializer, responses=QuotaOutputSerializer,
    )
    def post(self, request):
        values = _quota_values(request)
        answer = quota_check_named(
            project_name=values["project"], feature_key=values["feature"],
            quantity=values.get("quantity"), now=clock_now(),
            visible=request_access(request).can_view_project)
        if answer is None:
            raise Http404(f"no project {values['project']!r}")
        return _quota_response(answer)


class _FleetQuotaApi(APIView):
    parser_classes = [DecimalJSONParser]

    def _prepare(self, request):
        project, values = _quota_input(request)
        if not request_access(request).fleet_admin:
            raise exceptions.PermissionDenied(FLEET_ADMIN_ONLY)
        if values.get("quantity") is None:
            raise exceptions.ValidationError({"quantity": ["is required"]})
        return project, values


class EntitlementReserveApi(_FleetQuotaApi):
    @extend_schema(
        operation_id="entitlements_reserve",
        summary="Reserve quota atomically (never beyond the limit)",
        description="200 with `allowed` false and nothing reserved when the limit would be "
        "exceeded or no entitlement enables the feature.",
        request=QuotaInputSerializer, responses=QuotaOutputSerializer,
    )
    def post(self, request):
        project, values = self._prepare(request)
        return _quota_response(quota_reserve(project=project, feature_key=values["feature"],
                                             quantity=values["quantity"], now=clock_now()))


class EntitlementReleaseApi(_FleetQuotaApi):
    @extend_schema(
        operation_id="entitlements_release", summary="Release reserved quota",
        request=QuotaInputSerializer,
        responses={200: QuotaOutputSerializer,
                   409: OpenApiResponse(description="More than is reserved.")},
    )
    def post(self, request):
        project, values = self._prepare(request)
        return _quota_response(quota_release(project=project, feature_key=values["feature"],
                                             quantity=values["quantity"], now=clock_now()))
