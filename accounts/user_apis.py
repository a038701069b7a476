"""The provider's users and their roles through the API (fleet roles read, fleet admins
write).

    GET    /api/v1/users                    users with their roles
    POST   /api/v1/users                    create a user (fleet roles optional)
    GET    /api/v1/users/{username}         one user and their roles
    PATCH  /api/v1/users/{username}         deactivate or reactivate (`is_active`)
    POST   /api/v1/users/{username}/roles   grant a role: fleet-wide, on an organization
                                            or on a project
    DELETE /api/v1/users/{username}/roles   revoke it (a missing grant is a no-op)
"""

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import paginated
from accounts.grants import role_grant, role_revoke
from accounts.models import FLEET_ROLES, Organization, Project, Role, RoleGrant
from accounts.permissions import IsFleetAdminOrReadOnlyViewer, request_access
from accounts.users import user_create, user_set_active
from core.api import StandardPagination

NO_USER = "no user {username!r}"
NO_ORG = "no organization {name!r}"
NO_PROJECT = "no project {name!r}"


class RoleOutputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    organization = serializers.CharField(allow_null=True)
    project = serializers.CharField(allow_null=True)


class UserOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_active = serializers.BooleanField()
    roles = RoleOutputSerializer(many=True)


def _users():
    grants = RoleGrant.objects.select_related("organization", "project")
    return (get_user_model().objects.order_by("username")
            .prefetch_related(Prefetch("role_grants", queryset=grants)))


def user_data(user) -> dict:
    return {
        "username": user.username, "email": user.email, "first_name": user.first_name,
        "last_name": user.last_name, "is_active": user.is_active,
        "roles": [{"role": g.role,
                   "organization": g.organization.name if g.organization else None,
                   "project": g.project.name if g.project else None}
                  for g in user.role_grants.all()],
    }


def _user_or_404(username: str):
    user = _users().filter(username=username).first()
    if user is None:
        raise exceptions.NotFound(NO_USER.format(username=username))
    return user


class UserListApi(APIView):
    permission_classes = [IsFleetAdminOrReadOnlyViewer]
    pagination_class = StandardPagination

    @extend_schema(operation_id="users_list", responses=UserOutputSerializer(many=True))
    def get(self, request):
        """List users.

        The provider's people and their roles; fleet roles only."""
        return paginated(request, self, _users(), UserOutputSerializer, user_data)


class UserCreateApi(APIView):
    permission_classes = [IsFleetAdminOrReadOnlyViewer]

    @extend_schema_serializer(component_name="UserCreateInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        email = serializers.EmailField(required=False, allow_blank=True, default="")
        first_name = serializers.CharField(required=False, allow_blank=True, default="")
        last_name = serializers.CharField(required=False, allow_blank=True, default="")
        password = serializers.CharField(required=False, allow_null=True, default=None,
                                         write_only=True,
                                         help_text="Omitted: the user cannot sign in to pages.")
        roles = serializers.ListField(
            child=serializers.ChoiceField(choices=[(r.value, r.label) for r in FLEET_ROLES]),
            required=False, default=list)

    @extend_schema(operation_id="users_create", request=InputSerializer,
                   responses={201: UserOutputSerializer})
    def post(self, request):
        """Create a user.

        A person who can sign in; fleet admins only."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_create(**data.validated_data, actor=request.user,
                           access=request_access(request))
        return Response(user_data(_user_or_404(user.username)), status=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    permission_classes = [IsFleetAdminOrReadOnlyViewer]

    @extend_schema_serializer(component_name="UserUpdateInput")
    class InputSerializer(serializers.Serializer):
        is_active = serializers.BooleanField()

    @extend_schema(operation_id="users_retrieve", responses=UserOutputSerializer)
    def get(self, request, username: str):
        """Get a user.

        One person with their role grants."""
        return Response(user_data(_user_or_404(username)))

    @extend_schema(operation_id="users_update", request=InputSerializer,
                   responses=UserOutputSerializer)
    def patch(self, request, username: str):
        """Update a user.

        Their name or email, or deactivate them (active=false)."""
        user = _user_or_404(username)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_set_active(user=user, active=data.validated_data["is_active"], actor=request.user)
        return Response(user_data(_user_or_404(username)))


@extend_schema_serializer(component_name="UserRoleInput")
class RoleInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    organization = serializers.CharField(required=False, allow_null=True, default=None)
    project = serializers.CharField(required=False, allow_null=True, default=None)


def _role_scope(data: dict) -> dict:
    scope = {"role": data["role"], "organization": None, "project": None}
    if name := data.get("organization"):
        scope["organization"] = Organization.objects.filter(name=name).first()
        if scope["organization"] is None:
            raise exceptions.ValidationError({"organization": [NO_ORG.format(name=name)]})
    if name := data.get("project"):
        scope["project"] = Project.objects.filter(name=name).first()
        if scope["project"] is None:
            raise exceptions.ValidationError({"project": [NO_PROJECT.format(name=name)]})
    return scope


class UserRoleGrantApi(APIView):
    permission_classes = [IsFleetAdminOrReadOnlyViewer]

    @extend_schema(operation_id="users_roles_grant", request=RoleInputSerializer,
                   responses={201: UserOutputSerializer})
    def post(self, request, username: str):
        """Grant a role.

        Fleet, organization or project roles, audited."""
        user = _user_or_404(username)
        data = RoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Only fleet admins get here (the permission class), and they may grant anything.
        role_grant(user=user, **_role_scope(data.validated_data), granted_by=request.user,
                   access=request_access(request))
        return Response(user_data(_user_or_404(username)), status=status.HTTP_201_CREATED)


class UserRoleRevokeApi(APIView):
    permission_classes = [IsFleetAdminOrReadOnlyViewer]

    @extend_schema(operation_id="users_roles_revoke", request=RoleInputSerializer,
                   responses=UserOutputSerializer)
    def delete(self, request, username: str):
        """Revoke a role.

        The grant ends at once, audited."""
        user = _user_or_404(username)
        data = RoleInputSerializer(data=request.data or request.query_params)
        data.is_valid(raise_exception=True)
        role_revoke(user=user, **_role_scope(data.validated_data), revoked_by=request.user,
                    access=request_access(request))
        return Response(user_data(_user_or_404(username)))
