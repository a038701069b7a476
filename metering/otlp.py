"""OpenTelemetry metrics in: an OTLP export request turned into usage events.

Each data point of a metric that a provider's metric policy maps (`MetricPolicy.
otel_metric_name`) becomes one usage event per mapped Tally metric, ingested through
`usage_events_ingest` like any other: idempotent by event id, item by item, refused
with a reason where the billing calendar cannot take it.

- Sums give their value, gauges their reading, histograms (explicit and exponential)
  their count or their sum, as the policy says (`otel_value`).
- The project is the point's attribute the policy names (`otel_project_attribute`,
  default `tally.project`), else the resource's attribute of that name.
- Sums and histograms must be exported with delta temporality: a cumulative point is
  a running total, billing it would count the same usage again at every export. Such
  points are rejected with the reason (an SDK's exporter takes
  `preferred_temporality`; a Collector has the `cumulativetodelta` processor).
- The event id is a digest of what identifies the point (metric, resource, scope,
  attributes, start and time): the same export sent twice bills once.

The answer follows the OTLP spec: the points refused are counted in a partial success
with the reasons (`ExportMetricsPartialSuccess`).
"""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from catalog.models import MetricPolicy, OtelValue
from core.fields import QUANTITY_PLACES
from metering.ingestion import MAX_BATCH
from metering.usage_ingest import usage_events_ingest

EVENT_ID_PREFIX = "otlp-"
ERR_UNMAPPED = "no metric policy maps the OpenTelemetry metric {name!r}"
ERR_CUMULATIVE = (
    "{name!r} has cumulative temporality: export deltas (the SDK's preferred_temporality, "
    "or the Collector's cumulativetodelta processor)"
)
ERR_KIND = "{name!r} is a {kind}: Tally takes sums, gauges and histograms"
ERR_NO_PROJECT = "{name!r}: the point has no {attribute!r} attribute naming the project"
ERR_NO_TIME = "{name!r}: the point has no time_unix_nano"
ERR_NO_SUM = "{name!r}: the histogram point has no sum"
ERR_NUMBER = "{name!r}: the point's value is not a finite number Tally can hold"
_QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)


@dataclass
class OtlpResult:
    """The points ingested, the points rejected and why (reasons counted)."""

    points: int = 0
    events: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected_points: int = 0
    reasons: Counter = field(default_factory=Counter)

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected_points += count
        self.reasons[reason] += count

    @property
    def error_message(self) -> str:
        return "; ".join(f"{reason} ({count} points)" if count > 1 else reason
                         for reason, count in self.reasons.most_common(10))


def any_value_text(value: AnyValue):
    """An attribute's value as JSON-friendly Python (strings, numbers, lists, maps)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value_text(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind == "double_value":
        return str(value.double_value)
    return getattr(value, kind)


def attributes_dict(attributes: list[KeyValue]) -> dict:
    return {a.key: any_value_text(a.value) for a in attributes}


def _instant(nanos: int) -> datetime:
    return datetime.fromtimestamp(nanos // 1_000_000_000, tz=UTC).replace(
        microsecond=(nanos % 1_000_000_000) // 1000)


def _number(point) -> Decimal:
    kind = point.WhichOneof("value")
    raw = point.as_int if kind == "as_int" else Decimal(repr(point.as_double))
    return Decimal(raw).quantize(_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class _Series:
    name: str
    kind: str
    resource: dict
    scope: str


def _event_id(series: _Series, metric_key: str, attributes: dict, point) -> str:
    identity = json.dumps([series.name, metric_key, series.resource, series.scope, attributes,
                           point.start_time_unix_nano, point.time_unix_nano],
                          sort_keys=True, separators=(",", ":"), default=str)
    return EVENT_ID_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:48]


def _point_value(series: _Series, policy: MetricPolicy, point) -> Decimal | str:
    """The number the policy bills of `point`, or the reason it cannot."""
    if series.kind in ("sum", "gauge"):
        return _number(point)
    if policy.otel_value == OtelValue.HISTOGRAM_SUM:
        if not point.HasField("sum"):
            return ERR_NO_SUM.format(name=series.name)
        return Decimal(repr(point.sum)).quantize(_QUANTUM, rounding=ROUND_HALF_UP)
    return Decimal(point.count)


def _point_items(series: _Series, policies: list[MetricPolicy], point,
                 result: OtlpResult) -> list[dict]:
    attributes = attributes_dict(point.attributes)
    if not point.time_unix_nano:
        result.reject(ERR_NO_TIME.format(name=series.name))
        return []
    items = []
    for policy in policies:
        attribute = policy.otel_project_attribute
        project = attributes.get(attribute, series.resource.get(attribute))
        if not isinstance(project, str | int) or project == "":
            result.reject(ERR_NO_PROJECT.format(name=series.name, attribute=attribute))
            return []
        try:
            value = _point_value(series, policy, point)
        except InvalidOperation:  # infinite, or more digits than a quantity holds
            value = ERR_NUMBER.format(name=series.name)
        if isinstance(value, str):
            result.reject(value)
            return []
        items.append({
            "event_id": _event_id(series, policy.metric.key, attributes, point),
            "metric": policy.metric.key, "project": str(project),
            "occurred_at": _instant(point.time_unix_nano).isoformat(), "value": value,
            "attributes": {**{k: v for k, v in attributes.items() if k != attribute},
                           "otel.metric": series.name},
        })
    return items


def _metric_items(metric, number: int, resource: dict, scope: str, policies: dict,
                  result: OtlpResult):
    """Usage items of one OTLP metric's points: (items, the point each item came from)."""
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind) if kind else None
    points = list(data.data_points) if data is not None else []
    result.points += len(points)
    mapped = policies.get(metric.name)
    if not mapped:
        result.reject(ERR_UNMAPPED.format(name=metric.name), len(points))
        return [], []
    if kind not in ("sum", "gauge", "histogram", "exponential_histogram"):
        result.reject(ERR_KIND.format(name=metric.name, kind=kind), len(points))
        return [], []
    temporality = getattr(data, "aggregation_temporality", None)
    if temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE:
        result.reject(ERR_CUMULATIVE.format(name=metric.name), len(points))
        return [], []
    series = _Series(metric.name, "gauge" if kind == "gauge" else
                     "sum" if kind == "sum" else "histogram", resource, scope)
    items, owners = [], []
    for position, point in enumerate(points):
        point_items = _point_items(series, mapped, point, result)
        items += point_items
        owners += [(number, position)] * len(point_items)
    return items, owners


def otlp_metrics_ingest(*, request: ExportMetricsServiceRequest, now: datetime) -> OtlpResult:
    """Ingest an OTLP metrics export; what was taken and what was rejected, and why."""
    names = {m.name for rm in request.resource_metrics for sm in rm.scope_metrics
             for m in sm.metrics}
    policies: dict[str, list[MetricPolicy]] = {}
    for policy in MetricPolicy.objects.filter(otel_metric_name__in=names).select_related(
            "metric").order_by("metric__key"):
        policies.setdefault(policy.otel_metric_name, []).append(policy)
    result = OtlpResult()
    items, owners, seen = [], [], []
    for resource_metrics in request.resource_metrics:
        resource = attributes_dict(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                metric_items, metric_owners = _metric_items(metric, len(seen), resource, scope,
                                                            policies, result)
                seen.append(metric.name)
                items += metric_items
                owners += metric_owners
    refused_points = set()
    for start in range(0, len(items), MAX_BATCH):
        outcome = usage_events_ingest(items=items[start:start + MAX_BATCH], now=now)
        result.events += len(outcome.items)
        result.accepted += outcome.accepted
        result.duplicate += outcome.duplicate
        for item in outcome.items:
            if item["status"] == "refused":
                owner = owners[start + item["index"]]
                if owner not in refused_points:
                    refused_points.add(owner)
                    result.reject(_refusal_text(item))
    return result


def _refusal_text(item: dict) -> str:
    fields = item.get("fields") or {}
    if fields:
        return "; ".join(f"{name}: {', '.join(map(str, reasons))}"
                         for name, reasons in fields.items())
    return str(item.get("reason") or "refused")
