"""Column sizes for money, rates and quantities, defined once and reused."""

from django.db import models

# Unit rates keep up to 10 decimal places (PRODUCT.md).
RATE_DIGITS, RATE_PLACES = 28, 10
# Quantities are decimals: whole units for durations, fractions for credits and usage.
QUANTITY_DIGITS, QUANTITY_PLACES = 30, 10
# Amounts are stored rounded to the currency's minor unit (at most 3 places).
MONEY_DIGITS, MONEY_PLACES = 20, 3


def rate_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES, **kwargs)


def quantity_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(
        max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES, **kwargs
    )


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, **kwargs)
