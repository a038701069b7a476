"""Charges as stored in the catalog, turned into the pure pricing of `pricing.py`.

A charge is a usage price of a metric (per unit, package, graduated, volume,
flat) or a fixed fee (one-time, recurring monthly). This module checks the
fields a charge model takes, reads and writes tiers as JSON, and prices a
quantity through `pricing.price_usage` (one rating path). Pure: no ORM.

Tiers in JSON: `[{"up_to": "1000", "unit_price": "0", "flat_fee": "0"},
{"up_to": null, "unit_price": "0.10"}]`, bounds inclusive, the last unbounded
(PRODUCT.md). Numbers are strings (or ints); floats are refused.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from catalog.domain.decimals import ZERO, validate_rate
from catalog.domain.pricing import (
    Charge,
    ChargeModel,
    Tier,
    UsagePrice,
    price_usage,
    validate_tiers,
)
from core.money import to_decimal

ONE_TIME = "one_time"
RECURRING = "recurring"
FIXED = (ONE_TIME, RECURRING)
USAGE = tuple(model.value for model in ChargeModel)
MODELS = (*USAGE, *FIXED)

ERR_MODEL = "must be one of: " + ", ".join(MODELS)
ERR_REQUIRED = "is required for a {model} charge"
ERR_NOT_USED = "is not used by a {model} charge"
ERR_TIERS_FORMAT = (
    'tiers must be a list of {"up_to": number or null, "unit_price": number, '
    '"flat_fee": number (optional)}'
)
ERR_NUMBER = "must be a decimal number (a string or an int; floats are refused)"

# The fields each model takes (besides name, metric and free units).
MODEL_FIELDS: dict[str, frozenset[str]] = {
    ChargeModel.PER_UNIT: frozenset({"unit_price"}),
    ChargeModel.PACKAGE: frozenset({"package_size", "amount"}),
    ChargeModel.GRADUATED: frozenset({"tiers"}),
    ChargeModel.VOLUME: frozenset({"tiers"}),
    ChargeModel.FLAT: frozenset({"amount"}),
    ONE_TIME: frozenset({"amount"}),
    RECURRING: frozenset({"amount"}),
}


class ChargeFieldError(ValueError):
    """A field of a charge is wrong: `errors` maps field names to reasons."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def _number(value: Any) -> Decimal:
    try:
        return to_decimal(value)
    except ValueError:
        raise ValueError(ERR_NUMBER) from None


def tiers_from_json(raw: Any) -> tuple[Tier, ...]:
    """Tiers from their JSON form, checked (ascending, last unbounded); ValueError."""
    if not isinstance(raw, list | tuple):
        raise ValueError(ERR_TIERS_FORMAT)
    tiers = []
    for item in raw:
        if not isinstance(item, dict) or "unit_price" not in item or "up_to" not in item:
            raise ValueError(ERR_TIERS_FORMAT)
        up_to = item["up_to"]
        tiers.append(Tier(
            up_to=None if up_to is None else _number(up_to),
            unit_price=_number(item["unit_price"]),
            flat_fee=_number(item.get("flat_fee", 0)),
        ))
    return validate_tiers(tiers)


def tiers_to_json(tiers: tuple[Tier, ...]) -> list[dict]:
    return [
        {"up_to": None if t.up_to is None else _text(t.up_to), "unit_price": _text(t.unit_price),
         "flat_fee": _text(t.flat_fee)}
        for t in tiers
    ]


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeSpec:
    """A checked charge: what rating needs and what an invoice line shows of it."""

    charge_id: str
    model: str
    name: str
    metric: str | None = None
    unit_price: Decimal | None = None
    package_size: Decimal | None = None
    amount: Decimal | None = None
    tiers: tuple[Tier, ...] = ()
    free_units: Decimal = ZERO

    @property
    def is_usage(self) -> bool:
        return self.model in USAGE

    def usage_price(self) -> UsagePrice:
        model = ChargeModel(self.model)
        if model == ChargeModel.PACKAGE:
            return UsagePrice(model=model, package_size=self.package_size,
                              package_price=self.amount)
        if model == ChargeModel.FLAT:
            return UsagePrice(model=model, fee=self.amount)
        if model == ChargeModel.PER_UNIT:
            return UsagePrice(model=model, unit_price=self.unit_price)
        return UsagePrice(model=model, tiers=self.tiers)

    def price(self, quantity: Decimal) -> Charge:
        """Price a cycle's quantity; free units come off first (pricing.py)."""
        return price_usage(price=self.usage_price(), quantity=quantity,
                           free_units=self.free_units)

    def as_json(self) -> dict:
        """What an invoice line keeps of the charge that priced it."""
        data: dict[str, Any] = {"charge_id": self.charge_id, "model": self.model,
                                "name": self.name}
        for name in ("unit_price", "package_size", "amount"):
            value = getattr(self, name)
            if value is not None:
                data[name] = _text(value)
        if self.tiers:
            data["tiers"] = tiers_to_json(self.tiers)
        if self.free_units:
            data["free_units"] = _text(self.free_units)
        return data


def charge_spec(
    *,
    charge_id: str = "",
    model: str,
    name: str,
    metric: str | None = None,
    unit_price: Any = None,
    package_size: Any = None,
    amount: Any = None,
    tiers: Any = None,
    free_units: Any = None,
) -> ChargeSpec:
    """Check a charge's fields against its model; raises ChargeFieldError."""
    errors: dict[str, list[str]] = {}
    if model not in MODELS:
        raise ChargeFieldError({"model": [ERR_MODEL]})
    wanted = MODEL_FIELDS[model]
    given = {"unit_price": unit_price, "package_size": package_size, "amount": amount,
             "tiers": tiers if tiers else None}
    values: dict[str, Any] = {}
    for field, value in given.items():
        if field in wanted and value is None:
            errors[field] = [ERR_REQUIRED.format(model=model)]
        elif field not in wanted and value is not None:
            errors[field] = [ERR_NOT_USED.format(model=model)]
        elif value is not None:
            try:
                if field == "tiers":
                    values[field] = tiers_from_json(value)
                elif field == "package_size":
                    size = _number(value)
                    if size <= 0:
                        raise ValueError("must be greater than zero")
                    values[field] = size
                else:
                    values[field] = validate_rate(name=field, value=_number(value))
            except ValueError as error:
                errors[field] = [str(error)]
    if model in FIXED:
        if metric:
            errors["metric"] = [ERR_NOT_USED.format(model=model)]
        if free_units not in (None, 0, "0", ""):
            errors["free_units"] = [ERR_NOT_USED.format(model=model)]
    elif not metric:
        errors["metric"] = [ERR_REQUIRED.format(model=model)]
    free = ZERO
    if free_units not in (None, "") and "free_units" not in errors:
        try:
            free = _number(free_units)
            if free < 0:
                raise ValueError("must not be negative")
        except ValueError as error:
            errors["free_units"] = [str(error)]
    if not (name or "").strip():
        errors["name"] = ["a name is required (it is printed on invoices)"]
    if errors:
        raise ChargeFieldError(errors)
    return ChargeSpec(charge_id=charge_id, model=model, name=name.strip(),
                      metric=metric or None, free_units=free, **values)
