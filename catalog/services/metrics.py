"""Usage metrics (fed by usage events), and the service a metric belongs to.

Running-time metrics are resource types (`resource_types.resource_type_create`),
rated by the duration engine; `metric_service_set` ties any metric to a service.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.models import Aggregation, Metric, MetricPolicy, MetricSource, Service
from catalog.services.features import SERVICE_UNKNOWN
from catalog.services.keys import key_and_name_errors, raise_field_errors
from catalog.services.resource_types import RESOURCE_TYPE_KEY_TAKEN, ResourceTypeNotFound

# Field-level reasons; tests and the API import them.
AGGREGATION_INVALID = "must be one of: {choices}"
DURATION_IS_RESOURCE_TYPE = (
    "running time (duration) metrics are resource types: create them as resource types"
)
UNIQUE_NEEDS_ATTRIBUTE = "a unique count names the attribute whose distinct values it counts"
METRIC_IS_DURATION = (
    "{key!r} is a resource type (running time): price it with a duration price, not a charge"
)

_AGGREGATIONS = ", ".join(a for a in Aggregation.values if a != Aggregation.DURATION)


def metric_create(*, key: str, name: str, aggregation: str, service_key: str | None = None,
                  unit: str = "", unique_attribute: str = "", description: str = "") -> Metric:
    """A usage metric (sum, count, max, unique count, latest) fed by usage events.

    Running-time metrics are resource types (`resource_type_create`), rated by
    the duration engine; `metric_service_set` ties them to a service.
    """
    key, name = (key or "").strip(), (name or "").strip()
    unique_attribute = (unique_attribute or "").strip()
    errors = key_and_name_errors(key, name)
    if aggregation == Aggregation.DURATION:
        errors["aggregation"] = [DURATION_IS_RESOURCE_TYPE]
    elif aggregation not in Aggregation.values:
        errors["aggregation"] = [AGGREGATION_INVALID.format(choices=_AGGREGATIONS)]
    elif aggregation == Aggregation.UNIQUE_COUNT and not unique_attribute:
        errors["unique_attribute"] = [UNIQUE_NEEDS_ATTRIBUTE]
    with transaction.atomic():
        service = None
        if service_key:
            service = Service.objects.filter(key=service_key).first()
            if service is None:
                errors["service"] = [SERVICE_UNKNOWN.format(key=service_key)]
        if "key" not in errors and Metric.objects.filter(key=key).exists():
            errors["key"] = [RESOURCE_TYPE_KEY_TAKEN.format(key=key)]
        raise_field_errors(errors)
        metric = Metric.objects.create(key=key, name=name, unit=(unit or "").strip(),
                                       aggregation=aggregation, service=service,
                                       description=(description or "").strip())
        MetricPolicy.objects.create(metric=metric, source=MetricSource.USAGE_EVENTS,
                                    unique_attribute=unique_attribute)
    return metric


def metric_service_set(*, metric_key: str, service_key: str) -> Metric:
    """Tie a metric (a resource type too) to the service whose entitlements cover it."""
    with transaction.atomic():
        metric = Metric.objects.select_for_update().filter(key=metric_key).first()
        if metric is None:
            raise ResourceTypeNotFound(metric_key)
        service = Service.objects.filter(key=service_key).first()
        if service is None:
            raise ValidationError({"service": [SERVICE_UNKNOWN.format(key=service_key)]})
        Metric.objects.filter(pk=metric.pk).update(service=service)
        if metric.aggregation == Aggregation.DURATION:
            MetricPolicy.objects.get_or_create(
                metric=metric, defaults={"source": MetricSource.LIFECYCLE,
                                         "description": "Running time from lifecycle events."})
        metric.service = service
    return metric
