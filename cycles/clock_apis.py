"""A sandbox provider's test clock over the API, as Stripe's test clocks work.

    GET  /api/v1/test-clock                    the clock: frozen time, status
    POST /api/v1/test-clock/advance {"to": …}  move it forward (fleet admin); 202

The clock's status is `advancing` until the work due on the way is done, then `ready`
(or `failed`, with its error): poll the GET. A live provider runs on real time and
answers 404 on both.
"""

from datetime import UTC

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.timefmt import iso_instant
from cycles.clock import sandbox_clock_get
from cycles.clock_advance import (
    ADVANCE_NAIVE,
    NOT_A_SANDBOX,
    NotASandbox,
    sandbox_clock_advance,
)
from cycles.models import SandboxClock
from tenancy.selectors import provider_current

FLEET_ADMIN_ONLY = "Only a fleet admin may move the test clock."
INSTANT_FORMAT = "must be an ISO 8601 date and time with a UTC offset"
INSTANT_RANGE = "is outside the instants Tally can store (years 1 to 9998 in UTC)"


@extend_schema_field(OpenApiTypes.DATETIME)
class InstantField(serializers.Field):
    """ISO 8601 with an offset, read as UTC; naive or unrepresentable instants are
    refused with their reason, never guessed (nor a 500)."""

    default_error_messages = {"invalid": INSTANT_FORMAT, "naive": ADVANCE_NAIVE,
                              "range": INSTANT_RANGE}

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
            instant = parsed.astimezone(UTC)
        except OverflowError:
            self.fail("range")
        if not 1 <= instant.year <= 9998:
            self.fail("range")
        return instant

    def to_representation(self, value):
        return iso_instant(value)


@extend_schema_serializer(component_name="TestClock")
class ClockOutputSerializer(serializers.Serializer):
    frozen_time = serializers.CharField(help_text="Now, in this sandbox (ISO 8601, UTC).")
    local_time = serializers.CharField(
        help_text="The same instant in the provider's billing time zone, with its offset.")
    timezone = serializers.CharField(help_text="The provider's billing time zone.")
    status = serializers.CharField(help_text="ready, advancing (poll until it is not) or "
                                   "failed (see error; advance again to resume)")
    advancing_to = serializers.CharField(allow_null=True)
    error = serializers.CharField(help_text="Why the last advance stopped (status failed).")


def clock_data(clock: SandboxClock) -> dict:
    zone = provider_current().billing_timezone
    return {
        "frozen_time": iso_instant(clock.frozen_time),
        "local_time": iso_instant(clock.frozen_time, zone),
        "timezone": zone,
        "status": clock.status,
        "advancing_to": iso_instant(clock.advancing_to),
        "error": clock.error,
    }


def _clock_or_404() -> SandboxClock:
    clock = sandbox_clock_get()
    if clock is None:
        raise exceptions.NotFound(NOT_A_SANDBOX)
    return clock


class ClockApi(APIView):
    @extend_schema(operation_id="test_clock_get", summary="The sandbox's test clock",
                   responses={200: ClockOutputSerializer,
                              404: OpenApiResponse(description="A live provider.")})
    def get(self, request):
        return Response(clock_data(_clock_or_404()))


class ClockAdvanceApi(APIView):
    @extend_schema_serializer(component_name="TestClockAdvanceInput")
    class InputSerializer(serializers.Serializer):
        to = InstantField(help_text="The instant to move to, after the clock's time.")

    @extend_schema(
        operation_id="test_clock_advance",
        summary="Move the sandbox's clock forward; the work due on the way runs",
        request=InputSerializer,
        responses={202: ClockOutputSerializer,
                   400: OpenApiResponse(description="Backwards, too far, or no offset."),
                   404: OpenApiResponse(description="A live provider."),
                   409: OpenApiResponse(description="Still advancing.")},
    )
    def post(self, request):
        _clock_or_404()
        if not request.user.has_perm("cycles.change_sandboxclock"):
            raise exceptions.PermissionDenied(FLEET_ADMIN_ONLY)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            requested = sandbox_clock_advance(to=data.validated_data["to"], actor=request.user)
        except NotASandbox as error:
            raise exceptions.NotFound(str(error)) from error
        return Response(clock_data(requested.clock), status=status.HTTP_202_ACCEPTED)
