"""Writes for the catalog: resource types, variants, regions and list prices.

Every function is keyword-only and owns its transaction. A price is never
deleted nor edited in place: `price_set` closes the row in force at the new
price's effective instant (`valid_to`), marks rows that would have taken effect
later as superseded, adds a new open-ended row and writes a `PriceChange`
audit row, all in one transaction.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

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
from core.fields import RATE_DIGITS, RATE_PLACES
from cycles.guard import cycle_guard
from cycles.selectors import billing_period_containing

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

_UNITS = ", ".join(TimeUnit.values)
_CLASSES = ", ".join(ServiceClass.values)


class ResourceTypeNotFound(Exception):
    """No metric (resource type) with this key: the API answers 404."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(RESOURCE_TYPE_NOT_FOUND.format(key=key))


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


def _keyed_create(model, *, key: str, name: str, taken: str, **fields):
    """Create a catalog row named by a unique key and a display name, with the
    field-level reasons every such row shares (bad key, no name, key taken)."""
    key, name = (key or "").strip(), (name or "").strip()
    errors: dict[str, list[str]] = {}
    if reasons := key_errors(key):
        errors["key"] = reasons
    if not name:
        errors["name"] = [NAME_REQUIRED]
    with transaction.atomic():
        if "key" not in errors and model.objects.filter(key=key).exists():
            errors["key"] = [taken.format(key=key)]
        _raise(errors)
        return model.objects.create(key=key, name=name, **fields)


def region_create(*, key: str, name: str) -> Region:
    return _keyed_create(Region, key=key, name=name, taken=REGION_KEY_TAKEN)


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
    end of the last finalized cycle (cycles.guard.CycleFinalized). From that instant
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
        cycle_guard(effective, field="effective_from")
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



# --- the consumer catalog: services, features, metrics, usage charges, offers ----------

from dataclasses import dataclass, field  # noqa: E402

from catalog.domain.charges import FIXED, ChargeFieldError, charge_spec  # noqa: E402
from catalog.models import (  # noqa: E402
    Charge,
    Feature,
    FeatureKind,
    FeatureScope,
    MetricPolicy,
    MetricSource,
    Offer,
    OfferFeature,
    OfferVersion,
    Service,
)

SERVICE_KEY_TAKEN = "a service with key {key!r} already exists"
SERVICE_UNKNOWN = "no service {key!r}"
FEATURE_KEY_TAKEN = "a feature with key {key!r} already exists"
FEATURE_UNKNOWN = "no feature {key!r}"
FEATURE_KIND_INVALID = "must be one of: flag, quota"
FEATURE_SCOPE_INVALID = "must be one of: billing_account, project"
QUOTA_NEEDS_LIMIT = "a quota needs a default limit (0 or more)"
FLAG_HAS_NO_LIMIT = "a flag has no limit"
LIMIT_INVALID = "must be a decimal number, 0 or more"
AGGREGATION_INVALID = "must be one of: {choices}"
DURATION_IS_RESOURCE_TYPE = (
    "running time (duration) metrics are resource types: create them as resource types"
)
UNIQUE_NEEDS_ATTRIBUTE = "a unique count names the attribute whose distinct values it counts"
METRIC_UNKNOWN = "no metric {key!r}"
METRIC_IS_DURATION = (
    "{key!r} is a resource type (running time): price it with a duration price, not a charge"
)
METRIC_NOT_IN_SERVICES = "metric {key!r} belongs to no service of this offer"
METRIC_REPEATED = "metric {key!r} has two usage charges"
FEATURE_NOT_IN_SERVICES = "feature {key!r} belongs to no service of this offer"
FEATURE_REPEATED = "feature {key!r} is listed twice"
OFFER_KEY_TAKEN = "an offer with key {key!r} already exists"
OFFER_NEEDS_SERVICE = "an offer bundles at least one service"

_AGGREGATIONS = ", ".join(a for a in Aggregation.values if a != Aggregation.DURATION)


def service_create(*, key: str, name: str, description: str = "") -> Service:
    return _keyed_create(Service, key=key, name=name, taken=SERVICE_KEY_TAKEN,
                         description=(description or "").strip())


def _limit(value, errors: dict, field_name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        errors[field_name] = [LIMIT_INVALID]
        return None
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except ArithmeticError:
        errors[field_name] = [LIMIT_INVALID]
        return None
    if not number.is_finite() or number < 0:
        errors[field_name] = [LIMIT_INVALID]
        return None
    return number


def feature_create(*, service_key: str, key: str, name: str, kind: str,
                   scope: str = FeatureScope.BILLING_ACCOUNT, default_limit=None,
                   unit: str = "") -> Feature:
    """A flag or a quota of a service; a quota has a default limit (offers may change it)."""
    key, name = (key or "").strip(), (name or "").strip()
    errors: dict[str, list[str]] = {}
    if reasons := key_errors(key):
        errors["key"] = reasons
    if not name:
        errors["name"] = [NAME_REQUIRED]
    if kind not in FeatureKind.values:
        errors["kind"] = [FEATURE_KIND_INVALID]
    if scope not in FeatureScope.values:
        errors["scope"] = [FEATURE_SCOPE_INVALID]
    limit = _limit(default_limit, errors, "default_limit")
    if kind == FeatureKind.QUOTA and limit is None and "default_limit" not in errors:
        errors["default_limit"] = [QUOTA_NEEDS_LIMIT]
    if kind == FeatureKind.FLAG and limit is not None:
        errors["default_limit"] = [FLAG_HAS_NO_LIMIT]
    with transaction.atomic():
        service = Service.objects.filter(key=service_key).first()
        if service is None:
            errors["service"] = [SERVICE_UNKNOWN.format(key=service_key)]
        if "key" not in errors and Feature.objects.filter(key=key).exists():
            errors["key"] = [FEATURE_KEY_TAKEN.format(key=key)]
        _raise(errors)
        return Feature.objects.create(service=service, key=key, name=name, kind=kind,
                                      scope=scope, default_limit=limit, unit=(unit or "").strip())


def metric_create(*, key: str, name: str, aggregation: str, service_key: str | None = None,
                  unit: str = "", unique_attribute: str = "", description: str = "") -> Metric:
    """A usage metric (sum, count, max, unique count, latest) fed by usage events.

    Running-time metrics are resource types (`resource_type_create`), rated by
    the duration engine; `metric_service_set` ties them to a service.
    """
    key, name = (key or "").strip(), (name or "").strip()
    unique_attribute = (unique_attribute or "").strip()
    errors: dict[str, list[str]] = {}
    if reasons := key_errors(key):
        errors["key"] = reasons
    if not name:
        errors["name"] = [NAME_REQUIRED]
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
        _raise(errors)
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


def _charge_errors_prefixed(errors: dict[str, list[str]], prefix: str) -> dict[str, list[str]]:
    return {f"{prefix}.{name}": reasons for name, reasons in errors.items()}


def usage_price_set(*, metric_key: str, charge: dict, effective_from: datetime | None,
                    now: datetime, actor=None) -> Charge:
    """Set the list usage price of a (non-duration) metric, effective-dated like `price_set`.

    Without an effective instant it applies from the start of the cycle containing
    `now`. The charge in force is closed at the instant; one scheduled after it
    (never used by any invoice) is replaced.
    """
    errors: dict[str, list[str]] = {}
    with transaction.atomic():
        metric = Metric.objects.select_for_update(no_key=True).filter(key=metric_key).first()
        if metric is None:
            raise ResourceTypeNotFound(metric_key)
        if metric.aggregation == Aggregation.DURATION:
            raise ValidationError({"metric": [METRIC_IS_DURATION.format(key=metric_key)]})
        try:
            spec = charge_spec(metric=metric_key, **charge)
        except ChargeFieldError as error:
            errors.update(error.errors)
        except TypeError:
            errors["charge"] = ["unknown charge fields"]
        if "model" not in errors and charge.get("model") in FIXED:
            errors["model"] = ["list prices are usage prices; fixed fees belong to offers"]
        effective = _effective_instant(effective_from=effective_from, now=now, errors=errors)
        _raise(errors)
        cycle_guard(effective, field="effective_from")
        price_list = list_price_list_ensure()
        live = list(Charge.objects.select_for_update().filter(
            price_list=price_list, metric=metric).order_by("valid_from"))
        Charge.objects.filter(pk__in=[c.pk for c in live if c.valid_from >= effective]).delete()
        for row in live:
            if row.valid_from < effective and (row.valid_to is None or row.valid_to > effective):
                Charge.objects.filter(pk=row.pk).update(valid_to=effective)
        return _charge_create(price_list, spec, metric=metric, service=metric.service,
                              valid_from=effective, actor=actor)


def _charge_create(price_list: PriceList, spec, *, metric, service, valid_from, actor) -> Charge:
    from catalog.domain.charges import tiers_to_json

    return Charge.objects.create(
        price_list=price_list, metric=metric, service=service, model=spec.model,
        name=spec.name, unit_price=spec.unit_price, package_size=spec.package_size,
        amount=spec.amount, tiers=tiers_to_json(spec.tiers) if spec.tiers else [],
        free_units=spec.free_units, valid_from=valid_from, created_by=actor,
    )


@dataclass(frozen=True)
class OfferContent:
    """What an offer version holds. `charges`: dicts of `charge_spec` fields plus
    `metric` (usage) or `service` (fixed fees); `features`: {"feature", "limit"};
    `duration_prices`: {"metric", "variant", "region", "service_class", "rate",
    "time_unit"} for resource types (rated by the duration engine)."""

    services: list[str]
    charges: list[dict] = field(default_factory=list)
    features: list[dict] = field(default_factory=list)
    duration_prices: list[dict] = field(default_factory=list)


# Offer versions' charges and prices are in force for as long as an entitlement is:
# the entitlement window decides, not the price row.
OFFER_PRICES_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def _checked_content(content: OfferContent) -> tuple[list, list, list, list]:
    """(services, [(spec, metric, service)], [(feature, limit)], [price fields]) or
    ValidationError with field reasons."""
    errors: dict[str, list[str]] = {}
    keys = list(dict.fromkeys(content.services or []))
    services = {s.key: s for s in Service.objects.filter(key__in=keys)}
    unknown = [k for k in keys if k not in services]
    if not keys:
        errors["services"] = [OFFER_NEEDS_SERVICE]
    elif unknown:
        errors["services"] = [SERVICE_UNKNOWN.format(key=k) for k in unknown]
    service_ids = {s.pk for s in services.values()}

    metric_keys = {c.get("metric") for c in content.charges if isinstance(c, dict)}
    metric_keys |= {p.get("metric") for p in content.duration_prices if isinstance(p, dict)}
    metrics = {m.key: m for m in Metric.objects.filter(key__in=metric_keys - {None})}
    charges = []
    seen_metrics: set[str] = set()
    for index, raw in enumerate(content.charges):
        prefix = f"charges[{index}]"
        if not isinstance(raw, dict):
            errors[prefix] = ["must be an object"]
            continue
        fields = {k: v for k, v in raw.items() if k != "service"}
        try:
            spec = charge_spec(**fields)
        except ChargeFieldError as error:
            errors.update(_charge_errors_prefixed(error.errors, prefix))
            continue
        except TypeError:
            errors[prefix] = ["unknown charge fields"]
            continue
        metric = service = None
        if spec.metric:
            metric = metrics.get(spec.metric)
            if metric is None:
                errors[f"{prefix}.metric"] = [METRIC_UNKNOWN.format(key=spec.metric)]
                continue
            if metric.aggregation == Aggregation.DURATION:
                errors[f"{prefix}.metric"] = [METRIC_IS_DURATION.format(key=spec.metric)]
                continue
            if metric.service_id not in service_ids:
                errors[f"{prefix}.metric"] = [METRIC_NOT_IN_SERVICES.format(key=spec.metric)]
                continue
            if spec.metric in seen_metrics:
                errors[f"{prefix}.metric"] = [METRIC_REPEATED.format(key=spec.metric)]
                continue
            seen_metrics.add(spec.metric)
            service = metric.service
        else:
            service = services.get(raw.get("service")) if raw.get("service") else None
            if raw.get("service") and service is None:
                errors[f"{prefix}.service"] = [SERVICE_UNKNOWN.format(key=raw.get("service"))]
                continue
        charges.append((spec, metric, service))

    feature_keys = [f.get("feature") for f in content.features if isinstance(f, dict)]
    features = {f.key: f for f in Feature.objects.filter(key__in=feature_keys)}
    granted = []
    seen_features: set[str] = set()
    for index, raw in enumerate(content.features):
        prefix = f"features[{index}]"
        key = raw.get("feature") if isinstance(raw, dict) else None
        feature = features.get(key)
        if feature is None:
            errors[f"{prefix}.feature"] = [FEATURE_UNKNOWN.format(key=key)]
            continue
        if feature.service_id not in service_ids:
            errors[f"{prefix}.feature"] = [FEATURE_NOT_IN_SERVICES.format(key=key)]
            continue
        if key in seen_features:
            errors[f"{prefix}.feature"] = [FEATURE_REPEATED.format(key=key)]
            continue
        seen_features.add(key)
        limit = _limit(raw.get("limit"), errors, f"{prefix}.limit")
        if feature.kind == FeatureKind.FLAG and limit is not None:
            errors[f"{prefix}.limit"] = [FLAG_HAS_NO_LIMIT]
        granted.append((feature, limit))

    prices = []
    for index, raw in enumerate(content.duration_prices):
        prefix = f"duration_prices[{index}]"
        metric = metrics.get(raw.get("metric")) if isinstance(raw, dict) else None
        if metric is None or metric.aggregation != Aggregation.DURATION:
            errors[f"{prefix}.metric"] = [RESOURCE_TYPE_NOT_FOUND.format(key=raw.get("metric"))]
            continue
        if metric.service_id not in service_ids:
            errors[f"{prefix}.metric"] = [METRIC_NOT_IN_SERVICES.format(key=metric.key)]
            continue
        rate = raw.get("rate")
        if isinstance(rate, str):
            try:
                rate = Decimal(rate)
            except ArithmeticError:
                rate = None
        if rate_errors := _rate_errors(rate):
            errors[f"{prefix}.rate"] = rate_errors
            continue
        if raw.get("time_unit") not in TimeUnit.values:
            errors[f"{prefix}.time_unit"] = [TIME_UNIT_INVALID.format(units=_UNITS)]
            continue
        prices.append({"metric": metric, "variant": raw.get("variant") or "",
                       "region": raw.get("region") or "",
                       "service_class": raw.get("service_class") or "",
                       "rate": Decimal(rate), "time_unit": raw["time_unit"]})
    _raise(errors)
    return [services[k] for k in keys], charges, granted, prices


def offer_content_check(content: OfferContent) -> None:
    """ValidationError with field reasons when `content` cannot make an offer version."""
    _checked_content(content)


def _fill_version(version: OfferVersion, checked, actor) -> None:
    services, charges, granted, prices = checked
    version.services.set(services)
    for spec, metric, service in charges:
        _charge_create(version.price_list, spec, metric=metric, service=service,
                       valid_from=OFFER_PRICES_FROM, actor=actor)
    OfferFeature.objects.bulk_create(
        OfferFeature(version=version, feature=feature, limit=limit) for feature, limit in granted
    )
    Price.objects.bulk_create(
        Price(price_list=version.price_list, valid_from=OFFER_PRICES_FROM, created_by=actor, **p)
        for p in prices
    )


def _new_version(offer: Offer, number: int, *, now: datetime, actor, notes: str,
                 checked) -> OfferVersion:
    price_list = PriceList.objects.create(
        key=f"offer-{offer.key}-v{number}", name=f"{offer.name} v{number}",
        kind=PriceListKind.OFFER,
    )
    version = OfferVersion.objects.create(offer=offer, number=number, price_list=price_list,
                                          notes=notes, created_by=actor, created_at=now)
    _fill_version(version, checked, actor)
    return version


def offer_create(*, key: str, name: str, content: OfferContent, now: datetime,
                 description: str = "", public: bool = True, actor=None) -> OfferVersion:
    """An offer and its first version."""
    key, name = (key or "").strip(), (name or "").strip()
    errors: dict[str, list[str]] = {}
    if reasons := key_errors(key):
        errors["key"] = reasons
    if not name:
        errors["name"] = [NAME_REQUIRED]
    with transaction.atomic():
        if "key" not in errors and Offer.objects.filter(key=key).exists():
            errors["key"] = [OFFER_KEY_TAKEN.format(key=key)]
        try:
            checked = _checked_content(content)
        except ValidationError as error:
            errors.update(error.message_dict)
        _raise(errors)
        offer = Offer.objects.create(key=key, name=name, public=bool(public),
                                     description=(description or "").strip())
        return _new_version(offer, 1, now=now, actor=actor, notes="", checked=checked)


def offer_version_content(version: OfferVersion) -> OfferContent:
    """A version's content in the form `offer_revise` takes (to compare or copy it)."""
    from catalog.domain.charges import ChargeSpec

    charges = []
    for charge in version.price_list.charges.select_related("metric", "service").order_by("id"):
        data = ChargeSpec(
            model=charge.model, name=charge.name, charge_id="",
            unit_price=charge.unit_price, package_size=charge.package_size,
            amount=charge.amount, free_units=charge.free_units,
        ).as_json()
        data.pop("charge_id")
        if charge.tiers:
            data["tiers"] = charge.tiers
        if charge.metric_id:
            data["metric"] = charge.metric.key
        elif charge.service_id:
            data["service"] = charge.service.key
        charges.append(data)
    features = [
        {"feature": f.feature.key, "limit": None if f.limit is None else str(f.limit.normalize())}
        for f in version.features.select_related("feature").order_by("feature__key")
    ]
    prices = [
        {"metric": p.metric.key, "variant": p.variant, "region": p.region,
         "service_class": p.service_class, "rate": format(p.rate.normalize(), "f"),
         "time_unit": p.time_unit}
        for p in version.price_list.prices.select_related("metric").order_by("id")
    ]
    return OfferContent(services=sorted(version.services.values_list("key", flat=True)),
                        charges=charges, features=features, duration_prices=prices)


def _normalized(content: OfferContent, checked) -> tuple:
    services, charges, granted, prices = checked
    return (
        sorted(s.key for s in services),
        sorted(repr(sorted({**spec.as_json(), "charge_id": "",
                            "metric": getattr(metric, "key", None),
                            "service": getattr(service, "key", None)}.items()))
               for spec, metric, service in charges),
        sorted((f.key, None if limit is None else limit.normalize()) for f, limit in granted),
        sorted(repr(sorted({**p, "metric": p["metric"].key,
                            "rate": p["rate"].normalize()}.items())) for p in prices),
    )


def offer_revise(*, offer: Offer, content: OfferContent, now: datetime, actor=None,
                 notes: str = "") -> OfferVersion:
    """Give the offer new content. A version no one accepted yet is edited in place;
    an accepted one never changes, so the content goes into a new version. The same
    content as the current version changes nothing (returns it)."""
    with transaction.atomic():
        offer = Offer.objects.select_for_update().get(pk=offer.pk)
        current = (offer.versions.select_for_update().select_related("price_list")
                   .order_by("-number").first())
        checked = _checked_content(content)
        before = _checked_content(offer_version_content(current))
        if _normalized(content, checked) == _normalized(content, before):
            return current
        if current.accepted_at is None:
            current.price_list.charges.all().delete()
            current.price_list.prices.all().delete()
            current.features.all().delete()
            if notes:
                OfferVersion.objects.filter(pk=current.pk).update(notes=notes)
            _fill_version(current, checked, actor)
            return current
        return _new_version(offer, current.number + 1, now=now, actor=actor, notes=notes,
                            checked=checked)


def offer_version_mark_accepted(*, version: OfferVersion, now: datetime) -> None:
    """Called when an account accepts the version: from then on it never changes.
    Runs inside the caller's transaction (accounts' entitlement_accept)."""
    OfferVersion.objects.filter(pk=version.pk, accepted_at__isnull=True).update(accepted_at=now)
