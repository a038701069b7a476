"""POST /api/v1/otlp/v1/metrics: an OTLP/HTTP metrics receiver (protobuf and JSON).

Answers as the OTLP/HTTP spec asks: 200 with an `ExportMetricsServiceResponse` in the
request's own encoding (a partial success names the points rejected and why); 400 with a
`google.rpc.Status` for a body that does not decode; the same Content-Type as the
request. Bodies may be gzip-compressed (the Collector's otlphttp exporter does so by
default).
"""

import gzip
import json
import zlib

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from accounts.models import ApiKeyScope
from accounts.permissions import IsFleetAdmin
from core.api import file_renderer
from core.api_gate import value_refusals
from cycles.clock import clock_now
from metering.otlp import otlp_metrics_ingest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# A decompressed export larger than this is refused (a gzip bomb would be, too).
MAX_BODY_BYTES = 32 * 1024 * 1024
INVALID_ARGUMENT = 3  # google.rpc.Code


class _RawParser(BaseParser):
    """The body as bytes: the view decodes OTLP itself (protobuf or its JSON mapping)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


class OtlpProtobufParser(_RawParser):
    media_type = PROTOBUF


class OtlpJsonParser(_RawParser):
    media_type = JSON


class _OtlpError(Exception):
    pass


def _decompressed(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise _OtlpError(f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(body, MAX_BODY_BYTES)
    except (zlib.error, gzip.BadGzipFile) as error:
        raise _OtlpError(f"the gzip body does not inflate: {error}") from None
    if inflater.unconsumed_tail:
        raise _OtlpError(f"the export inflates to more than {MAX_BODY_BYTES} bytes")
    return data


def _json_gated(text: str) -> None:
    """The input gate's rules for the JSON flavour (depth, control characters, numbers):
    a refusal answers as OTLP answers, a google.rpc.Status."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _OtlpError("the body nests deeper than JSON is accepted (32 levels)") from None
    except ValueError as error:
        raise _OtlpError(f"the body is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise _OtlpError("the body must be one JSON object (an ExportMetricsServiceRequest)")
    refusals = value_refusals(value)
    if refusals:
        field, reasons = next(iter(refusals.items()))
        raise _OtlpError(f"{field or 'body'}: {reasons[0]}")


def _decoded(body: bytes, media: str) -> ExportMetricsServiceRequest:
    message = ExportMetricsServiceRequest()
    try:
        if media == JSON:
            text = body.decode("utf-8")
            _json_gated(text)
            json_format.Parse(text, message, ignore_unknown_fields=True)
        else:
            message.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, ValueError) as error:
        raise _OtlpError(f"the body is not an OTLP ExportMetricsServiceRequest: {error}"
                         ) from None
    return message


def _encoded(message, media: str, status: int = 200) -> HttpResponse:
    if media == JSON:
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return HttpResponse(body, status=status, content_type=media)


OTLP_DESCRIPTION = """
OpenTelemetry metrics over OTLP/HTTP: point an OTLP exporter (an SDK's
`OTLPMetricExporter`, a Collector's `otlphttp` exporter) at
`https://<provider host>/api/v1/otlp` with `Authorization: Bearer <API key>`. The body is
an `ExportMetricsServiceRequest`, as protobuf (`application/x-protobuf`) or its JSON
mapping (`application/json`), optionally gzip-compressed.

Each data point of an OpenTelemetry metric that a metric policy maps (the usage metric's
"OpenTelemetry metric name") becomes a usage event: sums give their value, gauges their
reading, histograms their count or sum, and the policy's project attribute (default
`tally.project`, on the point or the resource) names the project. Sums and histograms
must be deltas. The same export sent twice bills once.

The answer is an `ExportMetricsServiceResponse` in the request's encoding; points not
taken are counted in `partialSuccess.rejectedDataPoints` with the reasons in
`partialSuccess.errorMessage`. A body that does not decode is a 400 with a
`google.rpc.Status`.
"""

OTLP_EXAMPLE = {"resourceMetrics": [{
    "resource": {"attributes": [{"key": "tally.project", "value": {"stringValue": "web"}}]},
    "scopeMetrics": [{"scope": {"name": "shop"}, "metrics": [{
        "name": "api.requests", "sum": {
            "aggregationTemporality": 1, "isMonotonic": True,
            "dataPoints": [{"startTimeUnixNano": "1764547200000000000",
                            "timeUnixNano": "1764547260000000000", "asInt": "42"}]}}]}],
}]}


class OtlpMetricsApi(APIView):
    """POST /api/v1/otlp/v1/metrics"""

    # A fleet admin's key, like usage ingestion; an `ingest`-scoped key reaches it too.
    permission_classes = [IsFleetAdmin]
    api_key_scopes = (ApiKeyScope.INGEST,)
    # Counted against the provider's ingestion rate per API key (accounts/throttling.py).
    throttle_scope = "ingest"
    parser_classes = [OtlpProtobufParser, OtlpJsonParser]
    renderer_classes = [file_renderer(PROTOBUF, "protobuf"), JSONRenderer]

    @extend_schema(
        operation_id="otlp_metrics_export", summary="OTLP/HTTP metrics export",
        description=OTLP_DESCRIPTION,
        request={PROTOBUF: OpenApiTypes.BINARY, JSON: OpenApiTypes.OBJECT},
        responses={
            (200, PROTOBUF): OpenApiTypes.BINARY,
            (200, JSON): OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample(
                "Partial success", value={"partialSuccess": {
                    "rejectedDataPoints": "1",
                    "errorMessage": "no metric policy maps the OpenTelemetry metric 'x'"}})]),
            (400, PROTOBUF): OpenApiResponse(OpenApiTypes.BINARY,
                                             description="A google.rpc.Status."),
            (400, JSON): OpenApiResponse(OpenApiTypes.OBJECT,
                                         description="A google.rpc.Status."),
        },
        examples=[OpenApiExample("A delta sum", value=OTLP_EXAMPLE, request_only=True,
                                 media_type=JSON)],
    )
    def post(self, request):
        media = (request.content_type or "").split(";")[0].strip().lower()
        try:
            body = _decompressed(request.data, request.headers.get("Content-Encoding", ""))
            export = _decoded(body, media)
        except _OtlpError as error:
            return _encoded(Status(code=INVALID_ARGUMENT, message=str(error)), media, 400)
        result = otlp_metrics_ingest(request=export, now=clock_now())
        response = ExportMetricsServiceResponse()
        if result.rejected_points:
            response.partial_success.CopyFrom(ExportMetricsPartialSuccess(
                rejected_data_points=result.rejected_points,
                error_message=result.error_message))
        return _encoded(response, media)
