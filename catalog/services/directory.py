"""Changing what the catalog names: regions, services, features, metrics and resource
types, variants, and the dependencies between resource types.

Each `*_update` takes the row's key and the fields to change (None: keep), writes only
what differs, and returns (row, changed). Keys never change (events and invoices name
rows by them), and neither does what would re-rate history: a metric's aggregation or
a feature's kind (make a new one instead). `*_ensure` functions create the row when it
is missing and update it otherwise: what the declarative catalog (`catalog_apply`) runs.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.models import (
    Aggregation,
    Feature,
    FeatureKind,
    Metric,
    MetricPolicy,
    MetricSource,
    Region,
    ResourceTypeDependency,
    Service,
    Variant,
)
from catalog.services.features import (
    FLAG_HAS_NO_LIMIT,
    SERVICE_UNKNOWN,
    feature_create,
    limit_parse,
    service_create,
)
from catalog.services.keys import NAME_REQUIRED, raise_field_errors
from catalog.services.metrics import UNIQUE_NEEDS_ATTRIBUTE, metric_create, metric_service_set
from catalog.services.resource_types import (
    RESOURCE_TYPE_NOT_FOUND,
    VARIANT_DESCRIPTION_REQUIRED,
    ResourceTypeNotFound,
    region_create,
    resource_type_create,
    variant_add,
)

# Field-level reasons; tests and the API import them.
NOT_FOUND = "no {what} {key!r}"
AGGREGATION_FIXED = ("the aggregation of an existing metric never changes (its usage was "
                     "rated by it): make a new metric")
KIND_FIXED = "a feature's kind never changes: make a new feature"
NOT_A_RESOURCE_TYPE = "{key!r} is not a resource type (billed by running time)"
DEPENDS_ON_ITSELF = "a resource type cannot depend on itself"
IS_RESOURCE_TYPE = "{key!r} is a resource type: change it as a resource type"


def _changed(row, fields: dict) -> list[str]:
    """Set the given (not None) fields that differ on `row`; the names changed."""
    names = []
    for name, value in fields.items():
        if value is not None and getattr(row, name) != value:
            setattr(row, name, value)
            names.append(name)
    return names


def _save(row, names: list[str]) -> bool:
    if names:
        row.save(update_fields=names)
    return bool(names)


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


def _name_checked(name) -> None:
    if name is not None and not name.strip():
        raise ValidationError({"name": [NAME_REQUIRED]})


def region_update(*, key: str, name: str | None = None) -> tuple[Region, bool]:
    _name_checked(name)
    with transaction.atomic():
        region = Region.objects.select_for_update().filter(key=key).first()
        if region is None:
            raise ValidationError({"key": [NOT_FOUND.format(what="region", key=key)]})
        return region, _save(region, _changed(region, {"name": _stripped(name)}))


def service_update(*, key: str, name: str | None = None,
                   description: str | None = None) -> tuple[Service, bool]:
    _name_checked(name)
    with transaction.atomic():
        service = Service.objects.select_for_update().filter(key=key).first()
        if service is None:
            raise ValidationError({"key": [NOT_FOUND.format(what="service", key=key)]})
        names = _changed(service, {"name": _stripped(name),
                                   "description": _stripped(description)})
        return service, _save(service, names)


def feature_update(*, key: str, name: str | None = None, kind: str | None = None,
                   default_limit=None, unit: str | None = None) -> tuple[Feature, bool]:
    _name_checked(name)
    errors: dict[str, list[str]] = {}
    limit = limit_parse(default_limit, errors, "default_limit")
    with transaction.atomic():
        feature = Feature.objects.select_for_update().filter(key=key).first()
        if feature is None:
            raise ValidationError({"key": [NOT_FOUND.format(what="feature", key=key)]})
        if kind is not None and kind != feature.kind:
            errors["kind"] = [KIND_FIXED]
        if feature.kind == FeatureKind.FLAG and limit is not None:
            errors["default_limit"] = [FLAG_HAS_NO_LIMIT]
        raise_field_errors(errors)
        names = _changed(feature, {"name": _stripped(name), "unit": _stripped(unit),
                                   "default_limit": limit})
        return feature, _save(feature, names)


def _service_or_error(service_key: str | None, errors: dict) -> Service | None:
    if not service_key:
        return None
    service = Service.objects.filter(key=service_key).first()
    if service is None:
        errors["service"] = [SERVICE_UNKNOWN.format(key=service_key)]
    return service


def metric_update(*, key: str, name: str | None = None, unit: str | None = None,
                  description: str | None = None, aggregation: str | None = None,
                  unique_attribute: str | None = None,
                  service_key: str | None = None) -> tuple[Metric, bool]:
    """A usage metric's names, unit, service and (unique count) attribute."""
    _name_checked(name)
    errors: dict[str, list[str]] = {}
    with transaction.atomic():
        metric = Metric.objects.select_for_update().filter(key=key).first()
        if metric is None:
            raise ValidationError({"key": [NOT_FOUND.format(what="metric", key=key)]})
        if aggregation is not None and aggregation != metric.aggregation:
            errors["aggregation"] = [AGGREGATION_FIXED]
        service = _service_or_error(service_key, errors)
        attribute = _stripped(unique_attribute)
        if metric.aggregation == Aggregation.UNIQUE_COUNT and attribute == "":
            errors["unique_attribute"] = [UNIQUE_NEEDS_ATTRIBUTE]
        raise_field_errors(errors)
        names = _changed(metric, {"name": _stripped(name), "unit": _stripped(unit),
                                  "description": _stripped(description), "service": service})
        changed = _save(metric, names)
        if metric.aggregation != Aggregation.DURATION:
            policy, created = MetricPolicy.objects.get_or_create(
                metric=metric, defaults={"source": MetricSource.USAGE_EVENTS,
                                         "unique_attribute": attribute or ""})
            changed |= created or _save(policy, _changed(policy,
                                                         {"unique_attribute": attribute}))
        return metric, changed


def resource_type_update(*, key: str, name: str | None = None, unit: str | None = None,
                         description: str | None = None, service_key: str | None = None,
                         variants: list[tuple[str, str]] = ()) -> tuple[Metric, bool]:
    """A resource type's names and service; variants are added, or their descriptions
    changed (never removed: lifecycle events and invoices name them)."""
    metric = Metric.objects.filter(key=key).first()
    if metric is None:
        raise ResourceTypeNotFound(key)
    if metric.aggregation != Aggregation.DURATION:
        raise ValidationError({"key": [NOT_A_RESOURCE_TYPE.format(key=key)]})
    with transaction.atomic():
        metric, changed = _resource_type_fields(metric, name=name, unit=unit,
                                                description=description)
        if service_key and (metric.service is None or metric.service.key != service_key):
            metric_service_set(metric_key=key, service_key=service_key)
            changed = True
        for variant_key, variant_description in variants:
            changed |= variant_ensure(metric_key=key, key=variant_key,
                                      description=variant_description)[1]
    return metric, changed


def _resource_type_fields(metric: Metric, **fields) -> tuple[Metric, bool]:
    _name_checked(fields.get("name"))
    metric = (Metric.objects.select_for_update(of=("self",)).select_related("service")
              .get(pk=metric.pk))
    names = _changed(metric, {k: _stripped(v) for k, v in fields.items()})
    return metric, _save(metric, names)


def variant_ensure(*, metric_key: str, key: str, description: str) -> tuple[Variant, bool]:
    variant = Variant.objects.filter(metric__key=metric_key, key=key).first()
    if variant is None:
        return variant_add(metric_key=metric_key, key=key, description=description), True
    description = (description or "").strip()
    if not description:
        raise ValidationError({"description": [VARIANT_DESCRIPTION_REQUIRED]})
    return variant, _save(variant, _changed(variant, {"description": description}))


# --- dependencies ----------------------------------------------------------------------


def _resource_type(key: str, field: str, errors: dict) -> Metric | None:
    metric = Metric.objects.filter(key=key).first()
    if metric is None:
        errors[field] = [RESOURCE_TYPE_NOT_FOUND.format(key=key)]
    elif metric.aggregation != Aggregation.DURATION:
        errors[field] = [NOT_A_RESOURCE_TYPE.format(key=key)]
    return metric


def dependency_set(*, resource_type: str, depends_on: str,
                   credit_cascades: bool = True) -> tuple[ResourceTypeDependency, bool]:
    """`resource_type` depends on `depends_on`; a credit on the latter covers the former
    when `credit_cascades`. Setting what is set changes nothing."""
    errors: dict[str, list[str]] = {}
    child = _resource_type(resource_type, "resource_type", errors)
    parent = _resource_type(depends_on, "depends_on", errors)
    if resource_type == depends_on and not errors:
        errors["depends_on"] = [DEPENDS_ON_ITSELF]
    raise_field_errors(errors)
    with transaction.atomic():
        row, created = ResourceTypeDependency.objects.select_for_update().get_or_create(
            resource_type=child, depends_on=parent,
            defaults={"credit_cascades": bool(credit_cascades)})
        if created:
            return row, True
        return row, _save(row, _changed(row, {"credit_cascades": bool(credit_cascades)}))


def dependency_remove(*, resource_type: str, depends_on: str) -> bool:
    with transaction.atomic():
        deleted, _ = ResourceTypeDependency.objects.filter(
            resource_type__key=resource_type, depends_on__key=depends_on).delete()
    return bool(deleted)


# --- create or update (the declarative catalog) ----------------------------------------


def region_ensure(*, key: str, name: str) -> Region:
    if Region.objects.filter(key=key).exists():
        return region_update(key=key, name=name)[0]
    return region_create(key=key, name=name)


def service_ensure(*, key: str, name: str, description: str = "") -> Service:
    if Service.objects.filter(key=key).exists():
        return service_update(key=key, name=name, description=description)[0]
    return service_create(key=key, name=name, description=description)


def feature_ensure(*, key: str, service_key: str, name: str, kind: str, scope: str,
                   default_limit=None, unit: str = "") -> Feature:
    if Feature.objects.filter(key=key).exists():
        return feature_update(key=key, name=name, kind=kind, default_limit=default_limit,
                              unit=unit)[0]
    return feature_create(service_key=service_key, key=key, name=name, kind=kind, scope=scope,
                          default_limit=default_limit, unit=unit)


def metric_ensure(*, key: str, name: str, aggregation: str, service_key: str | None = None,
                  unit: str = "", unique_attribute: str = "", description: str = "") -> Metric:
    existing = Metric.objects.filter(key=key).first()
    if existing is None:
        return metric_create(key=key, name=name, aggregation=aggregation,
                             service_key=service_key, unit=unit,
                             unique_attribute=unique_attribute, description=description)
    if existing.aggregation == Aggregation.DURATION:
        raise ValidationError({"key": [IS_RESOURCE_TYPE.format(key=key)]})
    return metric_update(key=key, name=name, unit=unit, description=description,
                         aggregation=aggregation, unique_attribute=unique_attribute,
                         service_key=service_key)[0]


def resource_type_ensure(*, key: str, name: str, unit: str = "", description: str = "",
                         service_key: str | None = None,
                         variants: list[tuple[str, str]] = ()) -> Metric:
    if not Metric.objects.filter(key=key).exists():
        with transaction.atomic():
            metric = resource_type_create(key=key, name=name, unit=unit,
                                          description=description, variants=variants)
            if service_key:
                metric_service_set(metric_key=key, service_key=service_key)
        return metric
    return resource_type_update(key=key, name=name, unit=unit, description=description,
                                service_key=service_key, variants=variants)[0]
