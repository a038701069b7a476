"""Writes for the catalog: resource types, variants, regions and list prices.

Every function is keyword-only and owns its transaction. A price is never
deleted nor edited in place: `price_set` closes the row in force at the new
price's effective instant (`valid_to`), marks rows that would have taken effect
later as superseded, adds a new open-ended row and writes a `PriceChange`
audit row, all in one transaction.
"""

import re
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.fields import RATE_DIGITS, RATE_PLACES
from catalog.models import (
    Aggregation,
    Metric,
    Price,
    PriceChange,
    PriceChangeSource,
    PriceList,
    PriceListKind,
    Region,
    ServiceClass,
    TimeUnit,
    Variant,
)
from catalog.selectors import LIST_PRICE_LIST_KEY
from invoicing.selectors import (
    FINALIZED_CYCLE,
    billing_period_containing,
    finalized_cycle_label_at,
    finalized_until,
)

LIST_PRICE_LIST_NAME = "List prices"

KEY_MAX_LENGTH = 100
_KEY = re.compile(r"[a-z0-9][a-z0-9._-]*")

# Field-level reasons; tests and the API import them.
KEY_REQUIRED = "a key is required"
KEY_INVALID = "use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit"
KEY_TOO_LONG = f"at most {KEY_MAX_LENGTH} characters"
RESOURCE_TYPE_KEY_TAKEN = "a metric or resource type with key {key!r} already exists"
NAME_REQUIRED = "a name is required"
VARIANT_KEY_TAKEN = "resource type {metric!r} already has a variant {key!r}"
VARIANT_KEY_REPEATED = "variant {key!r} is listed twice"
VARIANT_DESCRIPTION_REQUIRED = "a description is required (it is printed on invoices)"
REGION_KEY_TAKEN = "a region with key {key!r} already exists"
RESOURCE_TYPE_NOT_FOUND = "no resource type {key!r}"

RATE_NOT_DECIMAL = "must be a decimal number (floats are not accepted)"
RATE_NOT_FINITE = "must be a finite number"
RATE_NEGATIVE = "must be zero or more (a price can be set to 0, never below)"
RATE_TOO_PRECISE = f"must have at most {RATE_PLACES} decimal places"
RATE_TOO_LARGE = f"must have at most {RATE_DIGITS - RATE_PLACES} digits before the decimal point"
TIME_UNIT_REQUIRED = "a unit of time is required for a resource type: one of {units}"
TIME_UNIT_INVALID = "must be one of {units}"
TIME_UNIT_NOT_ALLOWED = "only resource types (priced by running time) take a unit of time"
VARIANT_UNKNOWN = "resource type {metric!r} has no variant {variant!r}"
REGION_UNKNOWN = "no region {region!r}"
SERVICE_CLASS_INVALID = "must be one of {classes}, or empty for any class"
EFFECTIVE_FROM_NAIVE = "must carry a UTC offset (e.g. 2026-03-01T00:00:00Z)"
EFFECTIVE_BEFORE_FINALIZED = (
    "{when} is before {boundary}, the end of the last finalized billing cycle: "
    "finalized invoices never change"
)

_UNITS = ", ".join(TimeUnit.values)
_CLASSES = ", ".join(ServiceClass.values)


class ResourceTypeNotFound(Exception):
    """No metric (resource type) with this key: the API answers 404."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(RESOURCE_TYPE_NOT_FOUND.format(key=key))


class PriceInFinalizedCycle(ValidationError):
    """The effective instant falls before the end of the last finalized cycle.

    A ValidationError on `effective_from` (forms show it next to the field),
    distinct so the API can answer 409 Conflict rather than 400.
    """


# --- resource types, variants, regions -------------------------------------------------


def key_errors(key: str) -> list[str]:
    """Why `key` is not a valid key (empty list: it is)."""
    if not key:
        return [KEY_REQUIRED]
    if len(key) > KEY_MAX_LENGTH:
        return [KEY_TOO_LONG]
    if not _KEY.fullmatch(key):
        return [KEY_INVALID]
    return []


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


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
    errors: dict[str, list[str]] = {}
    if reasons := key_errors(key):
        errors["key"] = reasons
    if not name:
        errors["name"] = [NAME_REQUIRED]
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
    if variant_errors:
        errors["variants"] = variant_errors
    with transaction.atomic():
        if "key" not in errors and Metric.objects.filter(key=key).exists():
            errors["key"] = [RESOURCE_TYPE_KEY_TAKEN.format(key=key)]
        _raise(errors)
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
        _raise(errors)
        return Variant.objects.create(metric=metric, key=key, description=description)


def region_create(*, key: str, name: str) -> Region:
    key, name = (key or "").strip(), (name or "").strip()
    errors: dict[str, list[str]] = {}
    if reasons := key_errors(key):
        errors["key"] = reasons
    if not name:
        errors["name"] = [NAME_REQUIRED]
    with transaction.atomic():
        if "key" not in errors and Region.objects.filter(key=key).exists():
            errors["key"] = [REGION_KEY_TAKEN.format(key=key)]
        _raise(errors)
        return Region.objects.create(key=key, name=name)


# --- prices ----------------------------------------------------------------------------


def list_price_list_ensure() -> PriceList:
    """The provider's one list price list (created by a data migration; kept safe here)."""
    price_list, _ = PriceList.objects.get_or_create(
        key=LIST_PRICE_LIST_KEY,
        defaults={"name": LIST_PRICE_LIST_NAME, "kind": PriceListKind.LIST},
    )
    return price_list


def _rate_errors(rate) -> list[str]:
    if isinstance(rate, bool) or not isinstance(rate, Decimal | int):
        return [RATE_NOT_DECIMAL]
    rate = Decimal(rate)
    if not rate.is_finite():
        return [RATE_NOT_FINITE]
    errors = []
    if rate < 0:
        errors.append(RATE_NEGATIVE)
    # normalize() drops trailing zeros: 0.10000000000 (11 places) still fits.
    normalized = rate.normalize()
    if -normalized.as_tuple().exponent > RATE_PLACES:
        errors.append(RATE_TOO_PRECISE)
    if abs(rate) >= Decimal(10) ** (RATE_DIGITS - RATE_PLACES):
        errors.append(RATE_TOO_LARGE)
    return errors


def _effective_instant(
    *, effective_from: datetime | None, now: datetime, errors: dict[str, list[str]]
) -> datetime | None:
    if effective_from is None:
        # The whole cycle of the change is billed at the new price (PRODUCT.md).
        return billing_period_containing(now).start
    if effective_from.tzinfo is None or effective_from.utcoffset() is None:
        errors["effective_from"] = [EFFECTIVE_FROM_NAIVE]
        return None
    return effective_from


def _refuse_if_finalized(effective: datetime) -> None:
    boundary = finalized_until()
    if boundary is None or effective >= boundary:
        return
    label = finalized_cycle_label_at(effective)
    if label is not None:
        message = FINALIZED_CYCLE.format(when=effective.isoformat(), label=label)
    else:
        message = EFFECTIVE_BEFORE_FINALIZED.format(
            when=effective.isoformat(), boundary=boundary.isoformat()
        )
    raise PriceInFinalizedCycle({"effective_from": [message]})


def price_set(
    *,
    metric_key: str,
    variant: str = "",
    region: str = "",
    service_class: str = "",
    rate: Decimal,
    time_unit: str,
    effective_from: datetime | None,
    now: datetime,
    actor=None,
    source: PriceChangeSource,
) -> Price:
    """Set the list price of one key (metric, variant, region, service class).

    The price takes effect at `effective_from`, or, when None, at the start of
    the billing cycle containing `now` (so the whole open cycle is billed at
    it), and holds for every later cycle. The instant may not fall before the
    end of the last finalized cycle (PriceInFinalizedCycle). From that instant
    it replaces what was in force or scheduled for the same key: the row in
    force is closed at the instant, rows starting at or after it are marked
    superseded (kept for history, ignored by rating), and a new open-ended row
    is added, with a PriceChange audit row naming the rate it replaced.

    Setting the price that is already in force from that instant onwards, with
    nothing scheduled after it, changes nothing and returns the row in force:
    a repeated PUT is a no-op.

    Empty dimensions mean "any". Raises ResourceTypeNotFound for an unknown
    metric and ValidationError with field reasons for bad input.
    """
    variant = (variant or "").strip()
    region = (region or "").strip()
    service_class = (service_class or "").strip()
    time_unit = (time_unit or "").strip()

    with transaction.atomic():
        # Lock the metric first (fixed order: metric, then its price rows): two
        # changes of one metric serialize even when the key has no rows yet.
        # NO KEY UPDATE does not block inserts that merely reference the metric.
        metric = Metric.objects.select_for_update(no_key=True).filter(key=metric_key).first()
        if metric is None:
            raise ResourceTypeNotFound(metric_key)

        errors: dict[str, list[str]] = {}
        if rate_errors := _rate_errors(rate):
            errors["rate"] = rate_errors
        if metric.aggregation == Aggregation.DURATION:
            if not time_unit:
                errors["time_unit"] = [TIME_UNIT_REQUIRED.format(units=_UNITS)]
            elif time_unit not in TimeUnit.values:
                errors["time_unit"] = [TIME_UNIT_INVALID.format(units=_UNITS)]
        elif time_unit:
            errors["time_unit"] = [TIME_UNIT_NOT_ALLOWED]
        if variant and not Variant.objects.filter(metric=metric, key=variant).exists():
            errors["variant"] = [VARIANT_UNKNOWN.format(metric=metric.key, variant=variant)]
        if region and not Region.objects.filter(key=region).exists():
            errors["region"] = [REGION_UNKNOWN.format(region=region)]
        if service_class and service_class not in ServiceClass.values:
            errors["service_class"] = [SERVICE_CLASS_INVALID.format(classes=_CLASSES)]
        effective = _effective_instant(effective_from=effective_from, now=now, errors=errors)
        _raise(errors)
        _refuse_if_finalized(effective)
        rate = Decimal(rate)

        price_list = list_price_list_ensure()
        key = {
            "price_list": price_list,
            "metric": metric,
            "variant": variant,
            "region": region,
            "service_class": service_class,
        }
        live = list(
            Price.objects.select_for_update()
            .filter(**key, superseded_at__isnull=True)
            .order_by("valid_from", "id")
        )
        in_force = next(
            (
                row
                for row in live
                if row.valid_from <= effective
                and (row.valid_to is None or effective < row.valid_to)
            ),
            None,
        )
        from_effective = [row for row in live if row.valid_to is None or row.valid_to > effective]
        if (
            in_force is not None
            and from_effective == [in_force]
            and in_force.valid_to is None
            and in_force.rate == rate
            and in_force.time_unit == time_unit
        ):
            return in_force

        later = [row.pk for row in live if row.valid_from >= effective]
        if later:
            Price.objects.filter(pk__in=later).update(superseded_at=now)
        if in_force is not None and in_force.valid_from < effective:
            Price.objects.filter(pk=in_force.pk).update(valid_to=effective)
        price = Price.objects.create(
            **key,
            rate=rate,
            time_unit=time_unit,
            valid_from=effective,
            valid_to=None,
            created_by=actor,
        )
        PriceChange.objects.create(
            price=price,
            previous_rate=in_force.rate if in_force is not None else None,
            effective_from=effective,
            changed_by=actor,
            changed_at=now,
            source=source,
        )
    return price

