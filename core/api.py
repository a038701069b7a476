"""Shared API pieces that know no app: pagination and decimal fields."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import CursorPagination, PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class StreamPagination(CursorPagination):
    """For long, growing lists (exports): stable pages while rows are added."""

    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000
    ordering = "id"


@extend_schema_field({"type": "string", "format": "decimal", "example": "0.1"})
class PlainDecimalField(serializers.Field):
    """A rate or quantity as a plain string without trailing zeros ("0.1", "669600")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return plain_decimal(value)


def plain_decimal(value) -> str:
    """A rate or quantity as a plain string without trailing zeros ("0.1", "669600")."""
    return format(Decimal(value).normalize(), "f")


def combined_view(*operations):
    """One view for operations sharing a path (GET and POST on a collection): each
    operation is its own APIView class, as the style guide has it."""
    if len(operations) == 1:
        return operations[0].as_view()
    combined = type("".join(op.__name__ for op in operations), operations, {})
    return combined.as_view()
