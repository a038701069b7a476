"""Which OpenTelemetry metric feeds a usage metric over OTLP (metering/otlp.py reads it)."""

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.models import (
    OTEL_PROJECT_ATTRIBUTE,
    Aggregation,
    Metric,
    MetricPolicy,
    MetricSource,
    OtelValue,
)
from catalog.services.resource_types import ResourceTypeNotFound

OTEL_DURATION = "a resource type's running time comes from lifecycle events, not OTLP"
OTEL_VALUE_INVALID = "must be one of: " + ", ".join(OtelValue.values)
OTEL_TEXT = "must be at most 255 characters"


def metric_otel_mapping_set(*, metric_key: str, otel_metric_name: str,
                            project_attribute: str = OTEL_PROJECT_ATTRIBUTE,
                            value: str = OtelValue.VALUE) -> MetricPolicy:
    """Map the OpenTelemetry metric `otel_metric_name` onto usage metric `metric_key`
    (an empty name removes the mapping). `project_attribute` names the project on each
    point; `value` is which number of a point is billed."""
    otel_metric_name = (otel_metric_name or "").strip()
    project_attribute = (project_attribute or "").strip() or OTEL_PROJECT_ATTRIBUTE
    errors: dict[str, list[str]] = {}
    if value not in OtelValue.values:
        errors["value"] = [OTEL_VALUE_INVALID]
    for name, text in (("otel_metric_name", otel_metric_name),
                       ("project_attribute", project_attribute)):
        if len(text) > 255:
            errors[name] = [OTEL_TEXT]
    with transaction.atomic():
        metric = Metric.objects.filter(key=metric_key).first()
        if metric is None:
            raise ResourceTypeNotFound(metric_key)
        if metric.aggregation == Aggregation.DURATION:
            errors["metric"] = [OTEL_DURATION]
        if errors:
            raise ValidationError(errors)
        policy, _ = MetricPolicy.objects.select_for_update().get_or_create(
            metric=metric, defaults={"source": MetricSource.USAGE_EVENTS})
        policy.otel_metric_name = otel_metric_name
        policy.otel_project_attribute = project_attribute
        policy.otel_value = value
        policy.save(update_fields=["otel_metric_name", "otel_project_attribute", "otel_value"])
    return policy
