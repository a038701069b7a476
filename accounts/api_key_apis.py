"""API keys through the API: list, issue (the secret shown once), read, revoke.

    GET  /api/v1/api-keys              your keys (fleet admins: everyone's; ?user=)
    POST /api/v1/api-keys              issue a key: name, scope, expiry (fleet admins may
                                       issue one for another user)
    GET  /api/v1/api-keys/{id}         one key (never its secret)
    POST /api/v1/api-keys/{id}/revoke  refused (401) from now on; revoking twice is a no-op

Keys are read and revoked by their owner or a fleet admin; anyone else gets 404.
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_keys import USER_NOT_FOUND, api_key_issue, api_key_revoke
from accounts.apis import paginated
from accounts.models import ApiKey, ApiKeyScope
from accounts.permissions import request_access
from core.api import StandardPagination
from cycles.clock import real_now

ISSUE_FOR_OTHERS = "Only a fleet admin may issue a key for another user."


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's public part: tly_<prefix>_…")
    username = serializers.CharField(source="user.username")
    scope = serializers.ChoiceField(choices=ApiKeyScope.choices)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    active = serializers.SerializerMethodField()

    def get_active(self, key) -> bool:
        now = real_now()
        return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


def _visible_keys(request):
    keys = ApiKey.objects.select_related("user").order_by("-created_at", "-id")
    if request_access(request).fleet_admin:
        return keys
    return keys.filter(user=request.user)


def _key_or_404(request, key_id: int) -> ApiKey:
    key = _visible_keys(request).filter(pk=key_id).first()
    if key is None:
        raise exceptions.NotFound(f"no API key {key_id}")
    return key


class ApiKeyListApi(APIView):
    pagination_class = StandardPagination

    @extend_schema(operation_id="api_keys_list", summary="API keys (yours; a fleet admin's: all)",
                   parameters=[OpenApiParameter("user", str, description="Only this user's."),
                               OpenApiParameter("active", bool,
                                                description="Only keys that still work.")],
                   responses=ApiKeyOutputSerializer(many=True))
    def get(self, request):
        """List API keys.

        Your keys (a fleet admin's: everyone's, ?user= to filter); never the secret."""
        keys = _visible_keys(request)
        if username := request.query_params.get("user"):
            keys = keys.filter(user__username=username)
        if request.query_params.get("active") in ("true", "1"):
            keys = keys.filter(revoked_at__isnull=True).exclude(expires_at__lte=real_now())
        return paginated(request, self, keys, ApiKeyOutputSerializer, lambda k: k)


class ApiKeyIssuedSerializer(ApiKeyOutputSerializer):
    secret = serializers.CharField(help_text="Shown once: store it now.")


class ApiKeyIssueApi(APIView):
    @extend_schema_serializer(component_name="ApiKeyIssueInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, help_text="What will use it.")
        scope = serializers.ChoiceField(choices=ApiKeyScope.choices, default=ApiKeyScope.ADMIN)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        username = serializers.CharField(required=False, help_text="Default: yourself.")

    @extend_schema(operation_id="api_keys_issue", summary="Issue an API key (secret shown once)",
                   request=InputSerializer, responses={201: ApiKeyIssuedSerializer})
    def post(self, request):
        """Issue an API key.

        With a name, a scope (ingest, read, admin) and an optional expiry; the secret is
        shown once."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        username = fields.get("username") or request.user.username
        if username != request.user.username:
            if not request_access(request).fleet_admin:
                raise exceptions.PermissionDenied(ISSUE_FOR_OTHERS)
            if not get_user_model().objects.filter(username=username).exists():
                raise exceptions.ValidationError(
                    {"username": [USER_NOT_FOUND.format(username=username)]})
        issued = api_key_issue(username=username, name=fields["name"], scope=fields["scope"],
                               expires_at=fields["expires_at"], now=real_now(),
                               actor=request.user)
        body = dict(ApiKeyOutputSerializer(issued.api_key).data, secret=issued.secret)
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(APIView):
    @extend_schema(operation_id="api_keys_retrieve", responses=ApiKeyOutputSerializer)
    def get(self, request, key_id: int):
        """Get an API key.

        Its name, scope, expiry and last use; 404 for someone else's key."""
        return Response(ApiKeyOutputSerializer(_key_or_404(request, key_id)).data)


class ApiKeyRevokeApi(APIView):
    @extend_schema(operation_id="api_keys_revoke", summary="Revoke an API key (401 from now)",
                   request=None, responses=ApiKeyOutputSerializer)
    def post(self, request, key_id: int):
        """Revoke an API key.

        It is refused (401) from the next request on; revoked keys stay for the audit trail."""
        key = _key_or_404(request, key_id)
        api_key_revoke(api_key=key, now=real_now(), actor=request.user)
        key.refresh_from_db()
        return Response(ApiKeyOutputSerializer(key).data)
