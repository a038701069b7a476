"""API views of accounts."""

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


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
