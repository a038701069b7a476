"""API views of accounts: who the caller is (`whoami`), and what the accounts API modules
share.

The operations live by job: organizations and billing accounts in `organization_apis`,
projects in `project_apis`, role grants in `grant_apis`, entitlements and quota checks
in `consumer_apis`. One class per operation. Where two operations share a path (GET and
POST on a collection), `urls.py` serves them through one subclass of both; each method
names its own serializers, so nothing is shared by accident. Reads narrow to what the
caller may see (404 outside it); writes the caller may see but not do answer 403.
"""

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

NOT_ORG_ADMIN = "Only an admin of this organization (or a fleet admin) may do this."


class WhoAmIApi(APIView):
    """Who the caller is, on which provider: the first call a new integration makes."""

    class OutputSerializer(serializers.Serializer):
        provider = serializers.CharField()
        username = serializers.CharField()
        auth = serializers.CharField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        data = {
            "provider": connection.tenant.slug,
            "username": request.user.username,
            "auth": "api_key" if request.auth is not None else "session",
        }
        return Response(self.OutputSerializer(data).data)


def require_manage(access, organization_id: int) -> None:
    """403 unless the caller administers the organization (or the fleet)."""
    if not access.can_manage_org(organization_id):
        raise exceptions.PermissionDenied(NOT_ORG_ADMIN)


def paginated(request, view, items, serializer_class, to_data):
    """One page of `items`, each turned into data by `to_data`, in the standard envelope."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(items, request, view=view)
    return paginator.get_paginated_response(
        serializer_class([to_data(item) for item in page], many=True).data
    )


# Shared by the organization and project outputs. No docstring: it would become the
# component's description in the OpenAPI schema.
class AccountRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
