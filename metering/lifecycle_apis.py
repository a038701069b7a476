"""API views of metering's resources: lifecycle event ingestion and resource lookup."""

from django.http import Http404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKeyScope
from accounts.permissions import IsFleetAdmin, request_access
from cycles.clock import clock_now
from metering.domain.lifecycle import iso
from metering.ingestion import ERR_NOT_A_LIST, MAX_BATCH
from metering.lifecycle_ingest import lifecycle_events_ingest
from metering.models import LifecycleKind
from metering.selectors import resource_visible_detail

KIND_HELP = "One of: " + ", ".join(LifecycleKind.values) + "."

INGEST_DESCRIPTION = f"""
Send a batch of resource lifecycle events (at most {MAX_BATCH}), as `{{"events": [...]}}`
or as a bare JSON array. Each event is judged on its own: the answer is **200 even when
some events are refused** (multi-status semantics in a 200), with one outcome per event
in input order: `accepted`, `duplicate` (its `event_id` was already received: re-sending
is a no-op, even with a different body, which the reason then names) or `refused` (with
the reason, `fields` for malformed fields, and `error`, the error envelope a single
write would get, for refusals of the billing calendar). Accepted events are stored; the others
are not; nothing is stored in part.

An event is refused when a field is missing or unknown (resource type, variant,
project, region), `occurred_at` has no UTC offset or lies outside what UTC can hold
(years 1 to 9999), it is dated more than the provider's future horizon (default 1
day) ahead of now (`beyond_future_horizon`), before the provider's billing start
(`before_billing_start`), or in a finalized billing cycle (`cycle_finalized`: such an
event is also kept in the late-usage report, `GET /api/v1/usage/late`), it disagrees
with the stored resource (type, project, region, service class and parent never
change; the variant changes only through `resized`), or it contradicts the
resource's timeline (e.g. started twice, an event after `deleted`, created twice).
Events may arrive out of order: each is checked against its neighbours in time.

`created_by` (optional) names the user who created the resource: a username holding a
role in the project's organization or one of its projects; an unknown or foreign user is
refused with a field reason (`fields.created_by`). It is set when the resource is
created and never changes (a later event may omit it); spend per user
(`GET /api/v1/billing/spend-by-user`) groups the resource's invoice lines by it.

A malformed body (not JSON, not a list, more than {MAX_BATCH} events) answers 400 with
the error envelope and stores nothing. Ingestion is a fleet admin's role (API key or
session).
"""


@extend_schema_serializer(component_name="LifecycleEventInput")
class EventInputSerializer(serializers.Serializer):
    """One lifecycle event (documentation only: the batch is validated in bulk)."""

    event_id = serializers.CharField(max_length=200, help_text="The sender's unique id.")
    resource_id = serializers.CharField(max_length=200)
    kind = serializers.CharField(help_text=KIND_HELP)
    resource_type = serializers.CharField(help_text="A resource type (duration metric) key.")
    variant = serializers.CharField(help_text="A variant of the type, e.g. 4cpu-16gb.")
    project = serializers.CharField(help_text="The project's name.")
    region = serializers.CharField(help_text="A region key.")
    service_class = serializers.ChoiceField(
        choices=["standard", "spot"], required=False, default="standard"
    )
    parent_resource_id = serializers.CharField(
        required=False, allow_null=True,
        help_text="The resource this one depends on; it must exist or be in the batch.",
    )
    occurred_at = serializers.DateTimeField(help_text="ISO-8601 with a UTC offset.")
    attributes = serializers.DictField(required=False)
    created_by = serializers.CharField(
        required=False, allow_null=True,
        help_text="Username of the user of the project's organization who created it.",
    )


@extend_schema_serializer(component_name="LifecycleEventOutcome")
class ItemOutcomeSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField(allow_null=True)
    # CharFields, not ChoiceFields: other components' "status" and "kind" enums would
    # collide in the schema (drf-spectacular names enums by field name).
    status = serializers.CharField(help_text="One of: accepted, duplicate, refused.")
    reason = serializers.CharField(required=False)
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


@extend_schema_serializer(component_name="LifecycleEventStored")
class StoredEventSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    kind = serializers.CharField(help_text=KIND_HELP)
    occurred_at = serializers.DateTimeField()
    variant = serializers.CharField()
    received_at = serializers.DateTimeField()


class LifecycleEventsIngestApi(APIView):
    """POST /api/v1/resources/events"""

    permission_classes = [IsFleetAdmin]
    # An `ingest`-scoped key (a collector's) reaches this endpoint and no other.
    api_key_scopes = (ApiKeyScope.INGEST,)
    # Each event passes the input gate on its own (core/api.py, BATCH_FIELD).
    gate_batch_field = "events"
    # Counted against the provider's ingestion rate per API key (accounts/throttling.py).
    throttle_scope = "ingest"

    @extend_schema_serializer(component_name="LifecycleEventsIngestInput")
    class InputSerializer(serializers.Serializer):
        events = EventInputSerializer(many=True)

    @extend_schema_serializer(component_name="LifecycleEventsIngestOutput")
    class OutputSerializer(serializers.Serializer):
        accepted = serializers.IntegerField()
        duplicate = serializers.IntegerField()
        refused = serializers.IntegerField()
        items = ItemOutcomeSerializer(many=True)

    @extend_schema(
        operation_id="resources_events_ingest",
        summary="Ingest resource lifecycle events",
        description=INGEST_DESCRIPTION,
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Malformed body: not JSON, not a list, "
                                             "or too many events (error envelope)."),
        },
        examples=[
            OpenApiExample(
                "One event",
                request_only=True,
                value={"events": [{
                    "event_id": "evt-1", "resource_id": "i-1", "kind": "created",
                    "resource_type": "instance", "variant": "4cpu-16gb",
                    "project": "adventure", "region": "mars",
                    "occurred_at": "2020-10-01T00:00:00Z",
                }]},
            ),
        ],
    )
    def post(self, request):
        body = request.data  # malformed JSON raises ParseError: a 400 with the envelope
        events = body.get("events") if isinstance(body, dict) else body
        if not isinstance(events, list):
            raise ValidationError({"events": [ERR_NOT_A_LIST]})
        # The service validates every item itself, in bulk: no serializer per event.
        result = lifecycle_events_ingest(items=events, now=clock_now())
        return Response({
            "accepted": result.accepted,
            "duplicate": result.duplicate,
            "refused": result.refused,
            "items": result.items,
        })


class ResourceDetailApi(APIView):
    """GET /api/v1/resources/{resource_id}"""

    @extend_schema_serializer(component_name="ResourceDetail")
    class OutputSerializer(serializers.Serializer):
        resource_id = serializers.CharField()
        resource_type = serializers.CharField()
        variant = serializers.CharField()
        project = serializers.CharField()
        region = serializers.CharField()
        service_class = serializers.CharField()
        parent_resource_id = serializers.CharField(allow_null=True)
        attributes = serializers.DictField()
        created_by = serializers.CharField(allow_null=True, help_text="Its creator's username.")
        state = serializers.ChoiceField(
            choices=["running", "stopped", "deleted", "unknown"],
            help_text="After its known events; unknown when they leave it open.",
        )
        complete = serializers.BooleanField(help_text="Its `created` event is known.")
        consistent = serializers.BooleanField()
        events = StoredEventSerializer(many=True, help_text="In timeline order.")

    @extend_schema(
        operation_id="resources_retrieve",
        summary="A resource, its lifecycle events and current state",
        description="Visible to fleet roles and to viewers of the resource's project or "
        "organization; 404 otherwise.",
        responses={200: OutputSerializer, 404: OpenApiResponse(description="Not found.")},
    )
    def get(self, request, resource_id: str):
        detail = resource_visible_detail(access=request_access(request), resource_id=resource_id)
        if detail is None:
            raise Http404
        resource = detail.resource
        return Response({
            "resource_id": resource.resource_id,
            "resource_type": resource.metric.key,
            "variant": resource.variant,
            "project": resource.project.name,
            "region": resource.region,
            "service_class": resource.service_class,
            "parent_resource_id": resource.parent.resource_id if resource.parent else None,
            "attributes": resource.attributes,
            "created_by": resource.created_by.username if resource.created_by else None,
            "state": detail.state.phase.value,
            "complete": detail.state.complete,
            "consistent": detail.consistent,
            "events": [
                {
                    "event_id": e.event_id,
                    "kind": e.kind,
                    "occurred_at": iso(e.occurred_at),
                    "variant": e.variant,
                    "received_at": iso(e.received_at),
                }
                for e in detail.events
            ],
        })
