"""Numbers as an invoice prints them, in the provider's locale (Babel, CLDR data).

Amounts: the currency's symbol and minor unit, the locale's grouping ("$66,960.00",
"66.960,00 €"); a negative amount starts with a real minus sign, U+2212 ("−$495.00"),
which a reader cannot mistake for a dash and a spreadsheet never reads as a formula.
Rates keep every significant digit they were set with, at least the minor unit
("$0.10", "$0.0000125"). Quantities keep theirs, grouped ("669,600", "0.5").

Nothing here rounds money: amounts arrive rounded at the line (core/money.py); a rate is
printed as it is stored.
"""

from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal

from core.money import round_money

DEFAULT_LOCALE = "en_US"
MINUS = "\u2212"
# Units of time a price or a proration is counted in: printed singular for one, plural
# otherwise ("1 minute", "669,600 minutes"). A metric's own unit (requests, GB) is
# printed as it was named.
TIME_UNITS = {"second", "minute", "hour", "day", "week", "month", "year"}


def locale_or_default(name: str | None) -> str:
    """`name` if Babel knows it (en_US, de_DE, fr), else the default."""
    try:
        Locale.parse(name or DEFAULT_LOCALE)
    except (UnknownLocaleError, ValueError, TypeError):
        return DEFAULT_LOCALE
    return name or DEFAULT_LOCALE


def _signed(text_of_magnitude: str, negative: bool) -> str:
    return f"{MINUS}{text_of_magnitude}" if negative else text_of_magnitude


def money_text(amount: Decimal, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """An amount: "$66,960.00", "−$495.00" (en_US); "66.960,00 €" (de_DE, EUR)."""
    rounded = round_money(amount, currency)
    magnitude = format_currency(abs(rounded), currency, locale=locale)
    return _signed(magnitude, rounded < 0)


def rate_text(rate: Decimal, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """A unit price with every digit it has, at least the minor unit: "$0.10", "$0.0000125"."""
    magnitude = format_currency(abs(rate).normalize(), currency, locale=locale,
                                decimal_quantization=False)
    return _signed(magnitude, rate < 0)


def quantity_text(quantity: Decimal, locale: str = DEFAULT_LOCALE) -> str:
    """A quantity with every digit it has, grouped: "669,600", "4,950", "0.5"."""
    magnitude = format_decimal(abs(quantity).normalize(), locale=locale,
                               decimal_quantization=False)
    return _signed(magnitude, quantity < 0)


def unit_text(unit: str, quantity: Decimal) -> str:
    """A time unit in the plural unless the quantity is one; other units as named."""
    if unit in TIME_UNITS and abs(quantity) != 1:
        return f"{unit}s"
    return unit


def quantity_with_unit(quantity: Decimal, unit: str, locale: str = DEFAULT_LOCALE) -> str:
    """ "669,600 minutes", "1,000 requests", "1"."""
    number = quantity_text(quantity, locale)
    return f"{number} {unit_text(unit, quantity)}".strip()


def rate_with_unit(rate: Decimal, currency: str, unit: str,
                   locale: str = DEFAULT_LOCALE) -> str:
    """ "$0.10 per minute"; a rate with no unit (a fee) is the price alone."""
    price = rate_text(rate, currency, locale)
    return f"{price} per {unit}" if unit else price
