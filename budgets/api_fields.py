"""How the budgets API writes and reads values: instants in UTC, amounts as strings in
the provider's currency."""

from datetime import UTC
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from budgets.services import AMOUNT_NOT_DECIMAL
from core.fields import MONEY_DIGITS, MONEY_PLACES
from core.money import money_quantum, to_decimal
from tenancy.selectors import provider_current

AMOUNT_TOO_LARGE = f"must be less than 10^{MONEY_DIGITS - MONEY_PLACES}"


def iso_utc(value) -> str | None:
    """An aware datetime as ISO-8601 UTC with a Z (None stays None)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def money_string(value: Decimal) -> str:
    """An amount as a string in the provider's currency's minor unit ("5000.00")."""
    return str(Decimal(value).quantize(money_quantum(provider_current().currency)))


@extend_schema_field({"type": "string", "format": "decimal", "example": "5000.00"})
class AmountField(serializers.Field):
    """An amount as a string ("5000.00") or a JSON number, read exactly as Decimal."""

    default_error_messages = {"invalid": AMOUNT_NOT_DECIMAL, "range": AMOUNT_TOO_LARGE}

    def to_internal_value(self, data):
        try:
            amount = to_decimal(data)
        except ValueError:
            self.fail("invalid")
        if amount.is_finite() and amount.adjusted() >= MONEY_DIGITS - MONEY_PLACES:
            self.fail("range")
        return amount

    def to_representation(self, value):
        return money_string(value)
