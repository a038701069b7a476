"""Checked Decimals for pricing: what a quantity, a rate or a bound must be.

Floats, bools and non-finite numbers are refused (a float that sneaks in near
money raises); a rate is non-negative with at most `RATE_PLACES` decimal
places. `ceil_div` divides exactly, so no precision limit can round a quotient
up to a whole extra unit.
"""

from decimal import Decimal

from core.money import ERR_FLOAT, RATE_PLACES

ERR_NOT_DECIMAL = "must be a Decimal or an int"
ERR_NOT_FINITE = "must be finite"
ERR_NEGATIVE = "must not be negative"
ERR_NOT_POSITIVE = "must be greater than zero"
ERR_RATE_PLACES = f"must have at most {RATE_PLACES} decimal places"

ZERO = Decimal(0)
ONE = Decimal(1)


def checked_decimal(name: str, value: Decimal | int) -> Decimal:
    """`value` as a finite Decimal; floats and other types are refused."""
    if isinstance(value, float):
        raise ValueError(f"{name}: {ERR_FLOAT}")
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValueError(f"{name} {ERR_NOT_DECIMAL}, got {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{name} {ERR_NOT_FINITE}")
    return result


def non_negative(name: str, value: Decimal | int) -> Decimal:
    result = checked_decimal(name, value)
    if result < ZERO:
        raise ValueError(f"{name} {ERR_NEGATIVE}: {result}")
    return result


def positive(name: str, value: Decimal | int) -> Decimal:
    result = checked_decimal(name, value)
    if result <= ZERO:
        raise ValueError(f"{name} {ERR_NOT_POSITIVE}: {result}")
    return result


def validate_rate(*, name: str, value: Decimal | int) -> Decimal:
    """`value` as a non-negative rate with at most RATE_PLACES decimal places."""
    result = non_negative(name, value)
    # normalize() drops trailing zeros, so 0.10000000000 (11 places) still fits.
    if -result.normalize().as_tuple().exponent > RATE_PLACES:
        raise ValueError(f"{name} {ERR_RATE_PLACES}: {result}")
    return result


def ceil_div(numerator: Decimal, denominator: Decimal) -> Decimal:
    """`ceil(numerator / denominator)` for numerator >= 0 and denominator > 0, exact.

    Uses divmod rather than a rounded division so that a quotient such as
    44640.0000...01 can never be produced by a precision limit and then
    rounded up to a whole extra unit.
    """
    whole, remainder = divmod(numerator, denominator)
    return whole + ONE if remainder > ZERO else whole
