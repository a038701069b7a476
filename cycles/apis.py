"""API views of the billing calendar: the provider's cycles, and opening a month.

Rights come from Django's permission API, which accounts answers from Tally's roles
(cycles sits below accounts): fleet roles read, fleet admins open.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from cycles.clock import clock_now
from cycles.models import BillingCycle
from cycles.selectors import billing_start_at, cycles_list, month_label
from cycles.services import cycle_open
from tenancy.selectors import provider_current

OPEN_IS_FLEET_ADMINS = "only a fleet admin opens billing cycles"


class SeesFleetCalendar(permissions.BasePermission):
    """Fleet admins and viewers; anyone else gets 404, so the endpoint stays hidden."""

    def has_permission(self, request, view):
        if not request.user.has_perm("cycles.view_billingcycle"):
            raise exceptions.NotFound()
        return True


@extend_schema_serializer(component_name="BillingCycle")
class CycleSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="YYYY-MM in the provider's billing time zone.")
    start = serializers.DateTimeField(help_text="Local midnight of the first day (inclusive).")
    end = serializers.DateTimeField(help_text="Local midnight after the last day (exclusive).")
    last_day = serializers.DateField(help_text="The month's last day, in the billing zone.")
    status = serializers.CharField(help_text="open, closing or closed.")
    closed_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="BillingCalendar")
class CalendarSerializer(serializers.Serializer):
    time_zone = serializers.CharField()
    billing_start = serializers.DateTimeField(
        help_text="Nothing dated before it is accepted (409 before_billing_start).")
    billing_start_month = serializers.CharField()
    future_horizon_seconds = serializers.IntegerField(
        help_text="Events dated further ahead of now are refused (beyond_future_horizon).")
    cycles = CycleSerializer(many=True, help_text="Oldest first.")


def cycle_data(cycle: BillingCycle) -> dict:
    zone = ZoneInfo(provider_current().billing_timezone)
    last_day = (cycle.end.astimezone(zone) - timedelta(days=1)).date()
    return {"label": cycle.label, "start": cycle.start, "end": cycle.end, "last_day": last_day,
            "status": cycle.status, "closed_at": cycle.closed_at}


class CyclesApi(APIView):
    """GET /api/v1/cycles, POST /api/v1/cycles"""

    permission_classes = [permissions.IsAuthenticated, SeesFleetCalendar]

    @extend_schema_serializer(component_name="CycleOpenInput")
    class InputSerializer(serializers.Serializer):
        month = serializers.CharField(help_text="YYYY-MM, e.g. 2020-10.")

    @extend_schema(
        operation_id="cycles_list", summary="The provider's billing calendar",
        description="Fleet roles. Cycles are calendar months in the billing time zone, made "
        "when something dated in them arrives (an event, a price, an assignment, a credit), "
        "for the current month, for a month that follows one in which something still ran, "
        "or when an operator opens one. Instants are ISO 8601 with their offset.",
        responses={200: CalendarSerializer, 404: OpenApiResponse(description="Not a fleet role.")},
    )
    def get(self, request):
        provider = provider_current()
        start = billing_start_at()
        return Response(CalendarSerializer({
            "time_zone": provider.billing_timezone, "billing_start": start,
            "billing_start_month": month_label(start),
            "future_horizon_seconds": int(provider.future_horizon.total_seconds()),
            "cycles": [cycle_data(c) for c in cycles_list()],
        }).data)

    @extend_schema(
        operation_id="cycles_open", summary="Open the billing cycle of a month (fleet admin)",
        description="Opens a past or the current month from the billing start on, e.g. to "
        "import its history; answers 201 when it made the cycle, 200 when it existed. "
        "409 `before_billing_start` before the billing start, 409 `cycle_finalized` in the "
        "finalized past, 400 for a month that has not begun or is malformed.",
        request=InputSerializer,
        responses={200: CycleSerializer, 201: CycleSerializer, 400: OpenApiResponse(),
                   403: OpenApiResponse(), 409: OpenApiResponse()},
    )
    def post(self, request):
        if not request.user.has_perm("cycles.add_billingcycle"):
            raise exceptions.PermissionDenied(OPEN_IS_FLEET_ADMINS)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cycle, made = cycle_open(month=data.validated_data["month"], now=clock_now())
        return Response(CycleSerializer(cycle_data(cycle)).data,
                        status=status.HTTP_201_CREATED if made else status.HTTP_200_OK)
