"""The provider's list prices: duration prices of resource types and usage charges.

A price is never deleted nor edited in place: `price_set` closes the row in
force at the new price's effective instant (`valid_to`), marks rows that would
have taken effect later as superseded, adds a new open-ended row and writes a
`PriceChange` history row, all in one transaction (the audit log records each row
written, by trigger). `usage_price_set` dates the list usage charge of a
(non-duration) metric the same way.
"""

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.context import records_actor
from catalog.domain.charges import FIXED, ChargeFieldError, ChargeSpec, charge_spec, tiers_to_json
from catalog.models import (
    Aggregation,
    Charge,
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
from catalog.services.keys import raise_field_errors
from catalog.services.metrics import METRIC_IS_DURATION
from catalog.services.resource_types import ResourceTypeNotFound
from core.fields import RATE_DIGITS, RATE_PLACES
from cycles.guard import cycle_guard
from cycles.selectors import billing_period_containing
from cycles.services import cycles_ensure_for

LIST_PRICE_LIST_NAME = "List prices"

# Field-level reasons; tests and the API import them.
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
FIXED_FEE_NOT_LIST_PRICE = "list prices are usage prices; fixed fees belong to offers"

TIME_UNITS = ", ".join(TimeUnit.values)
_CLASSES = ", ".join(ServiceClass.values)


def list_price_list_ensure() -> PriceList:
    """The provider's one list price list (created by a data migration; kept safe here)."""
    price_list, _ = PriceList.objects.get_or_create(
        key=LIST_PRICE_LIST_KEY,
        defaults={"name": LIST_PRICE_LIST_NAME, "kind": PriceListKind.LIST},
    )
    return price_list


def rate_errors(rate) -> list[str]:
    """Why `rate` cannot be a price's rate (empty list: it can)."""
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


# --- duration prices of resource types -------------------------------------------------


def _price_field_errors(
    *, metric: Metric, rate, time_unit: str, variant: str, region: str, service_class: str
) -> dict[str, list[str]]:
    """The reasons of a price's fields, in the order the API reports them."""
    errors: dict[str, list[str]] = {}
    if reasons := rate_errors(rate):
        errors["rate"] = reasons
    if metric.aggregation == Aggregation.DURATION:
        if not time_unit:
            errors["time_unit"] = [TIME_UNIT_REQUIRED.format(units=TIME_UNITS)]
        elif time_unit not in TimeUnit.values:
            errors["time_unit"] = [TIME_UNIT_INVALID.format(units=TIME_UNITS)]
    elif time_unit:
        errors["time_unit"] = [TIME_UNIT_NOT_ALLOWED]
    if variant and not Variant.objects.filter(metric=metric, key=variant).exists():
        errors["variant"] = [VARIANT_UNKNOWN.format(metric=metric.key, variant=variant)]
    if region and not Region.objects.filter(key=region).exists():
        errors["region"] = [REGION_UNKNOWN.format(region=region)]
    if service_class and service_class not in ServiceClass.values:
        errors["service_class"] = [SERVICE_CLASS_INVALID.format(classes=_CLASSES)]
    return errors


def _live_prices_locked(key: dict) -> list[Price]:
    """The key's rows that are not superseded, locked, in `valid_from` order."""
    return list(
        Price.objects.select_for_update()
        .filter(**key, superseded_at__isnull=True)
        .order_by("valid_from", "id")
    )


def _in_force_at(live: list[Price], instant: datetime) -> Price | None:
    """The row of `live` in force at `instant` (`valid_from <= instant < valid_to`)."""
    return next(
        (
            row
            for row in live
            if row.valid_from <= instant and (row.valid_to is None or instant < row.valid_to)
        ),
        None,
    )


def _already_set(
    live: list[Price], in_force: Price | None, *, effective: datetime, rate: Decimal,
    time_unit: str,
) -> bool:
    """The same price is in force from `effective` onwards, open-ended, with nothing
    scheduled after it: setting it again changes nothing."""
    from_effective = [row for row in live if row.valid_to is None or row.valid_to > effective]
    return (
        in_force is not None
        and from_effective == [in_force]
        and in_force.valid_to is None
        and in_force.rate == rate
        and in_force.time_unit == time_unit
    )


def _price_replace(
    key: dict, live: list[Price], in_force: Price | None, *, effective: datetime,
    rate: Decimal, time_unit: str, now: datetime, actor, source: PriceChangeSource,
) -> Price:
    """Supersede rows from `effective` on, close the row in force at it, add the new
    open-ended row and its history row."""
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


@records_actor()
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
    end of the last finalized cycle (cycles.guard.CycleFinalized) nor before the
    provider's billing start (BeforeBillingStart); its month gets its cycle when it
    is not far ahead (cycles.services.cycles_ensure_for). From that instant
    it replaces what was in force or scheduled for the same key: the row in
    force is closed at the instant, rows starting at or after it are marked
    superseded (kept for history, ignored by rating), and a new open-ended row
    is added, with a PriceChange history row naming the rate it replaced.

    Setting the price that is already in force from that instant onwards, with
    nothing scheduled after it, changes nothing and returns the row in force:
    a repeated PUT is a no-op.

    Empty dimensions mean "any". Raises ResourceTypeNotFound for an unknown
    metric and ValidationError with field reasons for bad input.
    """
    variant, region = (variant or "").strip(), (region or "").strip()
    service_class, time_unit = (service_class or "").strip(), (time_unit or "").strip()
    with transaction.atomic():
        # Lock the metric first (fixed order: metric, then its price rows): two
        # changes of one metric serialize even when the key has no rows yet.
        # NO KEY UPDATE does not block inserts that merely reference the metric.
        metric = Metric.objects.select_for_update(no_key=True).filter(key=metric_key).first()
        if metric is None:
            raise ResourceTypeNotFound(metric_key)

        errors = _price_field_errors(metric=metric, rate=rate, time_unit=time_unit,
                                     variant=variant, region=region,
                                     service_class=service_class)
        effective = _effective_instant(effective_from=effective_from, now=now, errors=errors)
        raise_field_errors(errors)
        cycle_guard(effective, field="effective_from")
        cycles_ensure_for(instants=[effective], now=now)
        rate = Decimal(rate)

        key = {
            "price_list": list_price_list_ensure(),
            "metric": metric,
            "variant": variant,
            "region": region,
            "service_class": service_class,
        }
        live = _live_prices_locked(key)
        in_force = _in_force_at(live, effective)
        if _already_set(live, in_force, effective=effective, rate=rate, time_unit=time_unit):
            return in_force
        return _price_replace(key, live, in_force, effective=effective, rate=rate,
                              time_unit=time_unit, now=now, actor=actor, source=source)


# --- usage charges of metrics ----------------------------------------------------------


def charge_create(price_list: PriceList, spec: ChargeSpec, *, metric, service, valid_from,
                  actor) -> Charge:
    """A checked charge (`charge_spec`) written into a price list from `valid_from`."""
    return Charge.objects.create(
        price_list=price_list, metric=metric, service=service, model=spec.model,
        name=spec.name, unit_price=spec.unit_price, package_size=spec.package_size,
        amount=spec.amount, tiers=tiers_to_json(spec.tiers) if spec.tiers else [],
        free_units=spec.free_units, valid_from=valid_from, created_by=actor,
    )


@records_actor()
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
            errors["model"] = [FIXED_FEE_NOT_LIST_PRICE]
        effective = _effective_instant(effective_from=effective_from, now=now, errors=errors)
        raise_field_errors(errors)
        cycle_guard(effective, field="effective_from")
        cycles_ensure_for(instants=[effective], now=now)
        price_list = list_price_list_ensure()
        live = list(Charge.objects.select_for_update().filter(
            price_list=price_list, metric=metric).order_by("valid_from"))
        Charge.objects.filter(pk__in=[c.pk for c in live if c.valid_from >= effective]).delete()
        for row in live:
            if row.valid_from < effective and (row.valid_to is None or row.valid_to > effective):
                Charge.objects.filter(pk=row.pk).update(valid_to=effective)
        return charge_create(price_list, spec, metric=metric, service=metric.service,
                             valid_from=effective, actor=actor)
