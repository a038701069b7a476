"""GET/PUT /api/v1/metrics/{key}/otel: which OpenTelemetry metric feeds a usage metric
over OTLP (POST /api/v1/otlp/v1/metrics), which attribute names the project, and which
number of each point is billed."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import OTEL_PROJECT_ATTRIBUTE, MetricPolicy, OtelValue
from catalog.services.otel_mappings import metric_otel_mapping_set
from catalog.services.resource_types import ResourceTypeNotFound


class OtelMappingSerializer(serializers.Serializer):
    metric = serializers.CharField(source="metric.key", read_only=True)
    otel_metric_name = serializers.CharField(
        allow_blank=True, max_length=255,
        help_text="The OpenTelemetry metric name; empty: not fed by OTLP.")
    project_attribute = serializers.CharField(
        source="otel_project_attribute", max_length=255,
        default=OTEL_PROJECT_ATTRIBUTE,
        help_text="The point (or resource) attribute naming the project.")
    value = serializers.ChoiceField(
        source="otel_value", choices=OtelValue.choices,
        default=OtelValue.VALUE,
        help_text="value (sums, gauges), count or sum (histograms).")

    class Meta:
        ref_name = "OtelMapping"


class EditsCatalog(permissions.BasePermission):
    """Fleet roles read, those who may change metrics write (the role policy answers
    through Django's permission API)."""

    message = "Only fleet billing roles may see or change the catalog."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return request.user.has_perm("catalog.view_metric")
        return request.user.has_perm("catalog.change_metric")


class MetricOtelMappingApi(APIView):
    """The OTLP mapping of one usage metric (fleet roles read, fleet admins set)."""

    permission_classes = [permissions.IsAuthenticated, EditsCatalog]

    @extend_schema(operation_id="metric_otel_mapping_get", summary="A metric's OTLP mapping",
                   responses=OtelMappingSerializer)
    def get(self, request, metric_key: str):
        policy = MetricPolicy.objects.select_related("metric").filter(
            metric__key=metric_key).first()
        if policy is None:
            raise NotFound(f"no metric {metric_key!r}")
        return Response(OtelMappingSerializer(policy).data)

    @extend_schema(operation_id="metric_otel_mapping_set", summary="Map an OTel metric",
                   description="Usage from OTLP exports of `otel_metric_name` is billed "
                   "as this metric from now on.",
                   request=OtelMappingSerializer, responses=OtelMappingSerializer)
    def put(self, request, metric_key: str):
        data = OtelMappingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            policy = metric_otel_mapping_set(
                metric_key=metric_key, otel_metric_name=data.validated_data["otel_metric_name"],
                project_attribute=data.validated_data["otel_project_attribute"],
                value=data.validated_data["otel_value"])
        except ResourceTypeNotFound:
            raise NotFound(f"no metric {metric_key!r}") from None
        return Response(OtelMappingSerializer(policy).data)
