"""Who may use the catalog's REST API, and the base view its endpoints share.

Fleet roles read (`catalog.view_metric`), fleet admins write (`catalog.change_metric`):
the role policy answers; anyone else gets 404. Used by the directory
(catalog/directory_apis.py), the offer writes and `PUT /catalog`.
"""

from rest_framework import exceptions, permissions
from rest_framework.views import APIView

from core.api import DecimalJSONParser

CATALOG_ADMIN_ONLY = "Only a fleet billing admin may change the catalog."


class CatalogAccess(permissions.BasePermission):
    """Fleet roles read (others: 404, as if the catalog's directory did not exist);
    fleet admins write (a viewer: 403)."""

    def has_permission(self, request, view):
        if not request.user.has_perm("catalog.view_metric"):
            raise exceptions.NotFound()
        if request.method in permissions.SAFE_METHODS:
            return True
        if not request.user.has_perm("catalog.change_metric"):
            raise exceptions.PermissionDenied(CATALOG_ADMIN_ONLY)
        return True


class CatalogWriteAccess(CatalogAccess):
    """For views that share a path with a read everyone may make (GET /offers): reads
    pass here (the read's own view narrows them); writes are the catalog's."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return super().has_permission(request, view)


class CatalogApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CatalogAccess]
    parser_classes = [DecimalJSONParser]


def get_or_404(rows, what: str, **lookup):
    """The row of `rows` (a manager or queryset) matching `lookup`, or 404."""
    row = rows.filter(**lookup).first()
    if row is None:
        raise exceptions.NotFound(f"no {what} {next(iter(lookup.values()))!r}")
    return row


def valid_data(serializer_class, request, *, partial: bool = False) -> dict:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
