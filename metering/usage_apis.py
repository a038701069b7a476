"""API views of metering's usage: usage event ingestion (JSON or CloudEvents), the
usage no entitlement covered, and the late-usage report."""

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKeyScope
from accounts.permissions import IsFleetAdmin, IsFleetAdminOrReadOnlyViewer
from core.api import DecimalJSONParser, PlainDecimalField, StandardPagination
from core.periods import month_period, parse_month
from cycles.clock import clock_now
from cycles.selectors import billing_period_containing
from metering.domain.cloudevents import cloudevent_to_item
from metering.ingestion import ERR_NOT_A_LIST, MAX_BATCH
from metering.lifecycle_apis import LifecycleEventsIngestApi
from metering.selectors import late_events, unentitled_usage
from metering.usage_ingest import usage_events_ingest
from tenancy.selectors import provider_current

CLOUDEVENT = "application/cloudevents+json"
CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"
ERR_BATCH_NOT_LIST = "a CloudEvents batch is a JSON array of events"


class CloudEventParser(DecimalJSONParser):
    media_type = CLOUDEVENT


class CloudEventsBatchParser(DecimalJSONParser):
    media_type = CLOUDEVENTS_BATCH


USAGE_DESCRIPTION = f"""
Send usage events (at most {MAX_BATCH}) as `{{"events": [...]}}` or a bare JSON array with
`Content-Type: application/json`, or as CloudEvents 1.0: one event with
`{CLOUDEVENT}`, a batch with `{CLOUDEVENTS_BATCH}` (`id` is the event id, `time` its
instant, `subject` or `data.project` the project, `data.metric` or `type` the metric,
`data.value` and `data.attributes`).

The answer is item by item, exactly as for resource events: 200 with `accepted`,
`duplicate` (the id was already received: re-sending is a no-op) or `refused` with the
reason. Usage that no entitlement covers is stored all the same and reported at
`GET /api/v1/usage/unentitled`. Values are decimals (JSON numbers are read exactly).
"""


@extend_schema_serializer(component_name="UsageEventInput")
class UsageEventInputSerializer(serializers.Serializer):
    event_id = serializers.CharField(max_length=200)
    metric = serializers.CharField(help_text="A metric key (not a resource type).")
    project = serializers.CharField()
    occurred_at = serializers.DateTimeField(help_text="ISO-8601 with a UTC offset.")
    value = serializers.CharField(help_text="A decimal, 0 or more.")
    attributes = serializers.DictField(required=False)


class UsageEventsIngestApi(APIView):
    """POST /api/v1/usage/events"""

    permission_classes = [IsFleetAdmin]
    # An `ingest`-scoped key (a collector's) reaches this endpoint and no other.
    api_key_scopes = (ApiKeyScope.INGEST,)
    parser_classes = [DecimalJSONParser, CloudEventParser, CloudEventsBatchParser]
    # Each event passes the input gate on its own (core/api.py, BATCH_FIELD).
    gate_batch_field = "events"
    # Counted against the provider's ingestion rate per API key (accounts/throttling.py).
    throttle_scope = "ingest"

    @extend_schema_serializer(component_name="UsageEventsIngestInput")
    class InputSerializer(serializers.Serializer):
        events = UsageEventInputSerializer(many=True)

    @extend_schema(
        operation_id="usage_events_ingest", summary="Ingest usage events",
        description=USAGE_DESCRIPTION, request=InputSerializer,
        responses={200: LifecycleEventsIngestApi.OutputSerializer,
                   400: OpenApiResponse(description="Malformed body (error envelope).")},
        examples=[
            OpenApiExample(
                "Two events", request_only=True,
                value={"events": [
                    {"event_id": "req-2020-10-01-1", "metric": "requests",
                     "project": "adventure", "occurred_at": "2020-10-01T00:00:00Z",
                     "value": "1200", "attributes": {"region": "mars"}},
                    {"event_id": "req-2020-10-01-2", "metric": "requests",
                     "project": "adventure", "occurred_at": "2020-10-01T01:00:00Z",
                     "value": "800"},
                ]},
            ),
            OpenApiExample(
                "One CloudEvent", request_only=True, media_type=CLOUDEVENT,
                value={"specversion": "1.0", "id": "req-2020-10-01-3",
                       "source": "/gateway/mars", "type": "requests",
                       "subject": "adventure", "time": "2020-10-01T02:00:00Z",
                       "data": {"value": "300"}},
            ),
        ],
    )
    def post(self, request):
        body = request.data
        media = request.content_type.split(";")[0].strip().lower()
        if media == CLOUDEVENT:
            events = [cloudevent_to_item(body)]
        elif media == CLOUDEVENTS_BATCH:
            if not isinstance(body, list):
                raise ValidationError({"events": [ERR_BATCH_NOT_LIST]})
            events = [cloudevent_to_item(event) for event in body]
        else:
            events = body.get("events") if isinstance(body, dict) else body
            if not isinstance(events, list):
                raise ValidationError({"events": [ERR_NOT_A_LIST]})
        result = usage_events_ingest(items=events, now=clock_now())
        return Response({"accepted": result.accepted, "duplicate": result.duplicate,
                         "refused": result.refused, "items": result.items})


@extend_schema_serializer(component_name="UnentitledUsage")
class UnentitledUsageSerializer(serializers.Serializer):
    project = serializers.CharField()
    organization = serializers.CharField()
    metric = serializers.CharField()
    events = serializers.IntegerField()
    total_value = PlainDecimalField()
    first_at = serializers.DateTimeField()
    last_at = serializers.DateTimeField()


class UnentitledUsageApi(APIView):
    """GET /api/v1/usage/unentitled?period=YYYY-MM"""

    permission_classes = [IsFleetAdminOrReadOnlyViewer]

    @extend_schema(
        operation_id="usage_unentitled", summary="Usage no entitlement covered",
        description="For operators (fleet roles): usage events of the billing month (default: "
        "the current one) whose project's billing account had no active entitlement for the "
        "metric's service at the event's instant, per project and metric. Kept, not billed.",
        parameters=[OpenApiParameter("period", str, description="YYYY-MM")],
        responses=UnentitledUsageSerializer(many=True),
    )
    def get(self, request):
        label = request.query_params.get("period")
        now = clock_now()
        if label:
            try:
                year, month = parse_month(label)
            except ValueError as error:
                raise ValidationError({"period": [str(error)]}) from None
            period = month_period(year, month, provider_current().billing_timezone)
        else:
            period = billing_period_containing(now)
        rows = unentitled_usage(period=period)
        return Response(UnentitledUsageSerializer(rows, many=True).data)


STREAMS_HELP = "lifecycle (POST /api/v1/resources/events) or usage (POST /api/v1/usage/events)"


@extend_schema_serializer(component_name="LateEvent")
class LateEventSerializer(serializers.Serializer):
    stream = serializers.CharField(help_text=STREAMS_HELP)
    event_id = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    cycle = serializers.CharField(help_text="The finalized cycle it fell in (YYYY-MM).")
    project = serializers.CharField()
    subject = serializers.CharField(help_text="The resource (lifecycle) or metric (usage).")
    summary = serializers.CharField()
    details = serializers.DictField()
    first_received_at = serializers.DateTimeField()
    last_received_at = serializers.DateTimeField()
    received_count = serializers.IntegerField(help_text="How many times it was sent.")


class LateUsageApi(APIView):
    """GET /api/v1/usage/late?cycle=YYYY-MM&stream=lifecycle|usage"""

    permission_classes = [IsFleetAdminOrReadOnlyViewer]
    pagination_class = StandardPagination

    @extend_schema(
        operation_id="usage_late", summary="Events that arrived after their cycle was finalized",
        description="For operators (fleet roles): lifecycle and usage events refused with "
        "`cycle_finalized` because their billing cycle was already finalized, latest received "
        "first. They are kept here, never billed: correct the month with a credit note. "
        "Sending one again raises its `received_count`.",
        parameters=[OpenApiParameter("cycle", str, description="YYYY-MM"),
                    OpenApiParameter("stream", str, enum=["lifecycle", "usage"])],
        responses=LateEventSerializer(many=True),
    )
    def get(self, request):
        cycle = request.query_params.get("cycle") or None
        stream = request.query_params.get("stream") or None
        if cycle:
            try:
                parse_month(cycle)
            except ValueError as error:
                raise ValidationError({"cycle": [str(error)]}) from None
        if stream not in (None, "lifecycle", "usage"):
            raise ValidationError({"stream": ["must be lifecycle or usage"]})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(late_events(cycle=cycle, stream=stream), request,
                                           view=self)
        return paginator.get_paginated_response(LateEventSerializer(page, many=True).data)
