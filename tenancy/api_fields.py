"""API fields that need the provider serving the request."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import money_quantum
from tenancy.selectors import provider_current


@extend_schema_field({"type": "string", "format": "decimal", "example": "66960.00"})
class MoneyField(serializers.Field):
    """An amount as a string with the provider's currency minor unit ("66960.00")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return str(Decimal(value).quantize(money_quantum(provider_current().currency)))
