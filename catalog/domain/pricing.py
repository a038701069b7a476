"""Charge models: how a quantity becomes money.

Pure functions over `Decimal`. Amounts returned here are *unrounded*: an
invoice line rounds exactly once, to the currency's minor unit with
ROUND_HALF_UP (`line_amount`, `Charge.rounded`), and an invoice total is the
sum of rounded lines. Rates may carry up to `RATE_PLACES` decimal places
(checked in `decimals.py`).

Units: a quantity is in the metric's own unit (requests, GB, minutes, ...);
a unit price is money per one such unit; a package price is money per package;
a flat fee is money per cycle. Duration metrics count whole units of time per
running interval (`time_units.duration_units`), credits count exact fractions
(`time_units.exact_units`).
"""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from catalog.domain.decimals import (
    ONE,
    ZERO,
    ceil_div,
    checked_decimal,
    non_negative,
    positive,
    validate_rate,
)
from core.money import round_money
from core.periods import Period

ERR_NO_TIERS = "at least one tier is required"
ERR_TIERS_ORDER = "tier upper bounds must be strictly ascending"
ERR_UNBOUNDED_NOT_LAST = "only the last tier may be unbounded (up_to=None)"
ERR_LAST_BOUNDED = "the last tier must be unbounded (up_to=None)"
ERR_TIER_TYPE = "tiers must be Tier instances"
ERR_MODEL_FIELDS = "the fields given do not fit the charge model"


class ChargeModel(StrEnum):
    PER_UNIT = "per_unit"
    PACKAGE = "package"
    GRADUATED = "graduated"
    VOLUME = "volume"
    FLAT = "flat"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    """One tier of a tiered price.

    `up_to` is the tier's inclusive upper bound in metric units (None: no
    bound, the last tier). A tier covers the quantities above the previous
    tier's `up_to` (or above 0 for the first) up to and including its own.
    `unit_price` is money per unit; `flat_fee` money charged once when the
    tier applies.
    """

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO

    def __post_init__(self) -> None:
        # Frozen: store the checked Decimals (an int bound becomes a Decimal).
        if self.up_to is not None:
            object.__setattr__(self, "up_to", positive("up_to", self.up_to))
        object.__setattr__(
            self, "unit_price", validate_rate(name="unit_price", value=self.unit_price)
        )
        object.__setattr__(self, "flat_fee", validate_rate(name="flat_fee", value=self.flat_fee))


def validate_tiers(tiers: tuple[Tier, ...] | list[Tier]) -> tuple[Tier, ...]:
    """Check that tiers are non-empty, strictly ascending and end unbounded."""
    result = tuple(tiers)
    if not result:
        raise ValueError(ERR_NO_TIERS)
    if not all(isinstance(tier, Tier) for tier in result):
        raise ValueError(ERR_TIER_TYPE)
    if any(tier.up_to is None for tier in result[:-1]):
        raise ValueError(ERR_UNBOUNDED_NOT_LAST)
    if result[-1].up_to is not None:
        raise ValueError(ERR_LAST_BOUNDED)
    bounds = [tier.up_to for tier in result[:-1]]
    if any(upper <= lower for lower, upper in zip(bounds, bounds[1:], strict=False)):
        raise ValueError(ERR_TIERS_ORDER)
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class PricedPart:
    """One component of a charge, as an invoice line shows "what priced it".

    `tier` is the 1-based tier position (None for untiered models) and `up_to`
    its bound. `quantity` is the units priced in this part (for a package
    price, the number of packages). `amount` = quantity x unit_price +
    flat_fee, unrounded.
    """

    tier: int | None
    up_to: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """The result of pricing a quantity.

    `quantity` is what was measured, `billable_quantity` what remains after
    free units (never below 0), `amount` the unrounded sum of `parts`.
    """

    model: ChargeModel
    quantity: Decimal
    free_units: Decimal
    billable_quantity: Decimal
    amount: Decimal
    parts: tuple[PricedPart, ...]

    def rounded(self, currency: str) -> Decimal:
        """The amount rounded once, HALF_UP, to `currency`'s minor unit."""
        return round_money(self.amount, currency)


def _billable(
    quantity: Decimal | int, free_units: Decimal | int
) -> tuple[Decimal, Decimal, Decimal]:
    """(measured, free, billable): free units come off first, never below zero."""
    measured = non_negative("quantity", quantity)
    free = non_negative("free_units", free_units)
    return measured, free, max(measured - free, ZERO)


def _charge(
    model: ChargeModel,
    measured: Decimal,
    free: Decimal,
    billable: Decimal,
    parts: list[PricedPart],
) -> Charge:
    amount = sum((part.amount for part in parts), ZERO)
    return Charge(
        model=model,
        quantity=measured,
        free_units=free,
        billable_quantity=billable,
        amount=amount,
        parts=tuple(parts),
    )


def price_per_unit(
    *, quantity: Decimal | int, unit_price: Decimal | int, free_units: Decimal | int = ZERO
) -> Charge:
    """`(quantity - free_units) x unit_price`; zero usage costs zero."""
    measured, free, billable = _billable(quantity, free_units)
    rate = validate_rate(name="unit_price", value=unit_price)
    part = PricedPart(
        tier=None,
        up_to=None,
        quantity=billable,
        unit_price=rate,
        flat_fee=ZERO,
        amount=billable * rate,
    )
    return _charge(ChargeModel.PER_UNIT, measured, free, billable, [part])


def price_package(
    *,
    quantity: Decimal | int,
    package_size: Decimal | int,
    package_price: Decimal | int,
    free_units: Decimal | int = ZERO,
) -> Charge:
    """`ceil((quantity - free_units) / package_size) x package_price`.

    A started package is charged in full (1 unit of a 100-unit package costs
    one package); zero usage costs zero. The part's quantity is the number of
    packages and its unit price the package price.
    """
    measured, free, billable = _billable(quantity, free_units)
    size = positive("package_size", package_size)
    price = validate_rate(name="package_price", value=package_price)
    packages = ceil_div(billable, size)
    part = PricedPart(
        tier=None,
        up_to=None,
        quantity=packages,
        unit_price=price,
        flat_fee=ZERO,
        amount=packages * price,
    )
    return _charge(ChargeModel.PACKAGE, measured, free, billable, [part])


def price_graduated(
    *,
    quantity: Decimal | int,
    tiers: tuple[Tier, ...] | list[Tier],
    free_units: Decimal | int = ZERO,
) -> Charge:
    """Graduated tiers: each tier prices the part of the quantity inside it.

    A tier is entered when the billable quantity exceeds the previous tier's
    `up_to`; a quantity exactly on a bound stays in the lower tier. Each
    entered tier charges its flat fee once. The first tier is always entered,
    so its flat fee is charged even at zero quantity. `parts` lists the
    entered tiers in order.
    """
    measured, free, billable = _billable(quantity, free_units)
    parts: list[PricedPart] = []
    lower = ZERO
    for position, tier in enumerate(validate_tiers(tiers), start=1):
        if position > 1 and billable <= lower:
            break
        top = billable if tier.up_to is None else min(billable, tier.up_to)
        in_tier = max(top - lower, ZERO)
        parts.append(
            PricedPart(
                tier=position,
                up_to=tier.up_to,
                quantity=in_tier,
                unit_price=tier.unit_price,
                flat_fee=tier.flat_fee,
                amount=in_tier * tier.unit_price + tier.flat_fee,
            )
        )
        if tier.up_to is None:
            break
        lower = tier.up_to
    return _charge(ChargeModel.GRADUATED, measured, free, billable, parts)


def price_volume(
    *,
    quantity: Decimal | int,
    tiers: tuple[Tier, ...] | list[Tier],
    free_units: Decimal | int = ZERO,
) -> Charge:
    """Volume tiers: the whole billable quantity at the one tier it falls in.

    The quantity falls in the first tier whose inclusive `up_to` it does not
    exceed (0 falls in the first tier); the charge is quantity x that tier's
    unit price plus that tier's flat fee, so zero usage costs the first
    tier's flat fee.
    """
    measured, free, billable = _billable(quantity, free_units)
    # The last tier is unbounded (validated), so some tier always matches.
    position, tier = next(
        (position, tier)
        for position, tier in enumerate(validate_tiers(tiers), start=1)
        if tier.up_to is None or billable <= tier.up_to
    )
    part = PricedPart(
        tier=position,
        up_to=tier.up_to,
        quantity=billable,
        unit_price=tier.unit_price,
        flat_fee=tier.flat_fee,
        amount=billable * tier.unit_price + tier.flat_fee,
    )
    return _charge(ChargeModel.VOLUME, measured, free, billable, [part])


def price_flat(*, fee: Decimal | int) -> Charge:
    """A fixed fee per cycle whatever the usage; shown as quantity 1 x fee."""
    amount = validate_rate(name="fee", value=fee)
    part = PricedPart(
        tier=None, up_to=None, quantity=ONE, unit_price=amount, flat_fee=ZERO, amount=amount
    )
    return _charge(ChargeModel.FLAT, ONE, ZERO, ONE, [part])


@dataclass(frozen=True, slots=True, kw_only=True)
class UsagePrice:
    """A usage price as stored in the catalog, priced through `price_usage`.

    Fill only the fields of `model`: PER_UNIT `unit_price`; PACKAGE
    `package_size` and `package_price`; GRADUATED and VOLUME `tiers`; FLAT
    `fee`.
    """

    model: ChargeModel
    unit_price: Decimal | None = None
    package_size: Decimal | None = None
    package_price: Decimal | None = None
    tiers: tuple[Tier, ...] = ()
    fee: Decimal | None = None

    def __post_init__(self) -> None:
        given = {
            name
            for name in ("unit_price", "package_size", "package_price", "fee")
            if getattr(self, name) is not None
        }
        if self.tiers:
            given.add("tiers")
        if given != _MODEL_FIELDS[self.model]:
            expected = ", ".join(sorted(_MODEL_FIELDS[self.model]))
            raise ValueError(f"{ERR_MODEL_FIELDS}: {self.model} takes {expected}")


_MODEL_FIELDS = {
    ChargeModel.PER_UNIT: {"unit_price"},
    ChargeModel.PACKAGE: {"package_size", "package_price"},
    ChargeModel.GRADUATED: {"tiers"},
    ChargeModel.VOLUME: {"tiers"},
    ChargeModel.FLAT: {"fee"},
}


def price_usage(
    *, price: UsagePrice, quantity: Decimal | int, free_units: Decimal | int = ZERO
) -> Charge:
    """Price `quantity` with whichever charge model `price` uses (one rating path)."""
    match price.model:
        case ChargeModel.PER_UNIT:
            return price_per_unit(
                quantity=quantity, unit_price=price.unit_price, free_units=free_units
            )
        case ChargeModel.PACKAGE:
            return price_package(
                quantity=quantity,
                package_size=price.package_size,
                package_price=price.package_price,
                free_units=free_units,
            )
        case ChargeModel.GRADUATED:
            return price_graduated(quantity=quantity, tiers=price.tiers, free_units=free_units)
        case ChargeModel.VOLUME:
            return price_volume(quantity=quantity, tiers=price.tiers, free_units=free_units)
        case ChargeModel.FLAT:
            return price_flat(fee=price.fee)
    raise ValueError(f"unknown charge model: {price.model!r}")


def line_amount(*, quantity: Decimal | int, rate: Decimal | int, currency: str) -> Decimal:
    """`quantity x rate`, rounded once, HALF_UP, to `currency`'s minor unit.

    Negative quantities are allowed here: a credit line is a negative amount.
    """
    product = checked_decimal("quantity", quantity) * checked_decimal("rate", rate)
    return round_money(product, currency)


def prorate(*, amount: Decimal | int, active: Period, cycle: Period) -> Decimal:
    """`amount` scaled by the seconds `active` overlaps `cycle`, over the cycle's seconds.

    For recurring charges: an entitlement active for the whole cycle pays the
    full amount, one active for 16 of October's 31 days pays 16/31 of it, one
    not active in the cycle pays 0. The result is unrounded; the line rounds
    once. Multiplying before dividing keeps whole-second fractions exact where
    the quotient is representable.
    """
    full = checked_decimal("amount", amount)
    overlap = active.overlap(cycle)
    if overlap is None:
        return ZERO
    return full * overlap.seconds / cycle.seconds
