"""Resource types (metrics billed by running time), their variants, and regions."""

from django.db import transaction

from catalog.models import Aggregation, Metric, Region, Variant
from catalog.services.keys import (
    key_and_name_errors,
    key_errors,
    keyed_create,
    raise_field_errors,
)

# Field-level reasons; tests and the API import them.
RESOURCE_TYPE_KEY_TAKEN = "a metric or resource type with key {key!r} already exists"
VARIANT_KEY_TAKEN = "resource type {metric!r} already has a variant {key!r}"
VARIANT_KEY_REPEATED = "variant {key!r} is listed twice"
VARIANT_DESCRIPTION_REQUIRED = "a description is required (it is printed on invoices)"
REGION_KEY_TAKEN = "a region with key {key!r} already exists"
RESOURCE_TYPE_NOT_FOUND = "no resource type {key!r}"


class ResourceTypeNotFound(Exception):
    """No metric (resource type) with this key: the API answers 404."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(RESOURCE_TYPE_NOT_FOUND.format(key=key))


def _variants_checked(
    variants: list[tuple[str, str]] | tuple[tuple[str, str], ...],
) -> tuple[list[tuple[str, str]], list[str]]:
    """(stripped (key, description) pairs, reasons prefixed by the variant's key)."""
    variant_errors: list[str] = []
    seen: set[str] = set()
    cleaned: list[tuple[str, str]] = []
    for variant_key, variant_description in variants:
        variant_key = (variant_key or "").strip()
        variant_description = (variant_description or "").strip()
        variant_errors += [f"{variant_key or '?'}: {e}" for e in key_errors(variant_key)]
        if not variant_description:
            variant_errors.append(f"{variant_key or '?'}: {VARIANT_DESCRIPTION_REQUIRED}")
        if variant_key in seen:
            variant_errors.append(VARIANT_KEY_REPEATED.format(key=variant_key))
        seen.add(variant_key)
        cleaned.append((variant_key, variant_description))
    return cleaned, variant_errors


def resource_type_create(
    *,
    key: str,
    name: str,
    unit: str = "",
    description: str = "",
    variants: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
) -> Metric:
    """A resource type (a metric billed by running time) with its variants."""
    key, name = (key or "").strip(), (name or "").strip()
    errors = key_and_name_errors(key, name)
    cleaned, variant_errors = _variants_checked(variants)
    if variant_errors:
        errors["variants"] = variant_errors
    with transaction.atomic():
        if "key" not in errors and Metric.objects.filter(key=key).exists():
            errors["key"] = [RESOURCE_TYPE_KEY_TAKEN.format(key=key)]
        raise_field_errors(errors)
        metric = Metric.objects.create(
            key=key,
            name=name,
            unit=(unit or "").strip(),
            description=(description or "").strip(),
            aggregation=Aggregation.DURATION,
        )
        Variant.objects.bulk_create(
            Variant(metric=metric, key=k, description=d) for k, d in cleaned
        )
    return metric


def variant_add(*, metric_key: str, key: str, description: str) -> Variant:
    """Add a variant (machine type or size) to a resource type."""
    key, description = (key or "").strip(), (description or "").strip()
    errors: dict[str, list[str]] = {}
    if reasons := key_errors(key):
        errors["key"] = reasons
    if not description:
        errors["description"] = [VARIANT_DESCRIPTION_REQUIRED]
    with transaction.atomic():
        metric = Metric.objects.filter(key=metric_key).first()
        if metric is None:
            raise ResourceTypeNotFound(metric_key)
        if "key" not in errors and Variant.objects.filter(metric=metric, key=key).exists():
            errors["key"] = [VARIANT_KEY_TAKEN.format(metric=metric_key, key=key)]
        raise_field_errors(errors)
        return Variant.objects.create(metric=metric, key=key, description=description)


def region_create(*, key: str, name: str) -> Region:
    return keyed_create(Region, key=key, name=name, taken=REGION_KEY_TAKEN)
