"""Money primitives: one rounding rule, one way into Decimal.

Every amount in Tally is a `decimal.Decimal`. Rates keep up to `RATE_PLACES`
decimal places; an amount is rounded exactly once, at the invoice line, to the
currency's minor unit with ROUND_HALF_UP (`round_money`). Nothing here knows
Django, settings or the clock.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Unit rates are stored and compared with this many decimal places.
RATE_PLACES = 10
RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)

# ISO 4217 minor units that differ from the common 2. The list is short on
# purpose: a currency missing here falls back to 2 places, which is right for
# nearly every currency in use.
DEFAULT_MINOR_UNIT = 2
_MINOR_UNITS: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}

_CURRENCY_CODE = re.compile(r"[A-Z]{3}")

ERR_CURRENCY = "currency must be a three-letter upper-case ISO 4217 code"
ERR_FLOAT = "floats are not accepted for money or quantities: pass a str, int or Decimal"
ERR_NOT_A_NUMBER = "not a decimal number"
ERR_NOT_FINITE = "the number must be finite (no NaN or Infinity)"
ERR_UNSUPPORTED_TYPE = "expected a str, int or Decimal"
ERR_AMOUNT_TYPE = "amounts must be Decimal"


def minor_unit(currency: str) -> int:
    """Number of decimal places of `currency`'s minor unit (USD 2, JPY 0, KWD 3)."""
    if not isinstance(currency, str) or not _CURRENCY_CODE.fullmatch(currency):
        raise ValueError(f"{ERR_CURRENCY}: {currency!r}")
    return _MINOR_UNITS.get(currency, DEFAULT_MINOR_UNIT)


def money_quantum(currency: str) -> Decimal:
    """The smallest amount of `currency`: Decimal("0.01") for USD, Decimal("1") for JPY."""
    return Decimal(1).scaleb(-minor_unit(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round `amount` to `currency`'s minor unit, ROUND_HALF_UP.

    Half rounds away from zero for negative amounts too (-0.005 USD -> -0.01),
    so a credit rounds to the same magnitude as the charge it mirrors. A
    negative zero is returned as zero so that "-0.00" never reaches an invoice.
    """
    if not isinstance(amount, Decimal):
        raise ValueError(f"{ERR_AMOUNT_TYPE}, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(ERR_NOT_FINITE)
    rounded = amount.quantize(money_quantum(currency), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def to_decimal(value: str | int | Decimal) -> Decimal:
    """Convert a str, int or Decimal to a finite Decimal.

    Floats are refused (ValueError), because a float has already lost the exact
    value the caller meant (0.1 is 0.1000000000000000055...). Booleans are
    refused too: True is an int to Python but never a quantity.
    """
    if isinstance(value, float):
        raise ValueError(ERR_FLOAT)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"{ERR_UNSUPPORTED_TYPE}, got {type(value).__name__}")
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{ERR_NOT_A_NUMBER}: {value!r}") from None
    else:
        result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{ERR_NOT_FINITE}: {value!r}")
    return result
