"""Shared API pieces: the caller's access, pagination, and role permissions."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import permissions, serializers
from rest_framework.pagination import CursorPagination, PageNumberPagination

from accounts.access import Access, access_for


def request_access(request) -> Access:
    """The caller's roles, computed once per request."""
    if not hasattr(request, "_tally_access"):
        request._tally_access = access_for(request.user)
    return request._tally_access


class IsFleetAdmin(permissions.BasePermission):
    message = "Only a fleet billing admin may do this."

    def has_permission(self, request, view):
        return request_access(request).fleet_admin


class IsFleetAdminOrReadOnlyViewer(permissions.BasePermission):
    """Fleet admins write; fleet viewers and admins read."""

    message = "Only fleet billing roles may see this."

    def has_permission(self, request, view):
        access = request_access(request)
        if request.method in permissions.SAFE_METHODS:
            return access.sees_fleet
        return access.fleet_admin


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


@extend_schema_field({"type": "string", "format": "decimal", "example": "66960.00"})
class MoneyField(serializers.Field):
    """An amount as a string with the provider's currency minor unit ("66960.00")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        from billing.money import money_quantum
        from tenancy.selectors import provider_current

        return str(Decimal(value).quantize(money_quantum(provider_current().currency)))


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
