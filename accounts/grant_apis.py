"""API views of role grants: a project's viewers and an organization's roles."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_keys import USER_NOT_FOUND
from accounts.apis import paginated
from accounts.grants import role_grant, role_revoke
from accounts.models import ORG_ROLES, Role
from accounts.permissions import request_access
from accounts.selectors import (
    organization_get,
    organization_grants,
    project_get,
    project_viewer_grants,
)
from core.api import StandardPagination


def _refuse(exc: Exception):
    """Keep a service's refusal message (the envelope's default is generic)."""
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    return exceptions.NotFound()


def _user_by_name(username: str, field: str = "username"):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({field: [USER_NOT_FOUND.format(username=username)]})
    return user


class GrantOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    organization = serializers.CharField(allow_null=True)
    project = serializers.CharField(allow_null=True)
    granted_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


def _grant_data(grant, *, organization=None, project=None) -> dict:
    organization = organization or grant.organization
    project = project or grant.project
    return {
        "username": grant.user.username,
        "role": grant.role,
        "organization": organization.name if organization else None,
        "project": project.name if project else None,
        "granted_by": grant.granted_by.username if grant.granted_by else None,
        "created_at": grant.created_at,
    }


class ProjectViewerListApi(APIView):
    """Who may see the project's spend through a project grant."""

    pagination_class = StandardPagination

    @extend_schema(operation_id="project_viewers_list",
                   responses=GrantOutputSerializer(many=True))
    def get(self, request, project_name: str):
        project = project_get(access=request_access(request), name=project_name)
        grants = project_viewer_grants(project=project)
        return paginated(request, self, grants, GrantOutputSerializer,
                          lambda g: _grant_data(g, project=project))


class ProjectViewerGrantApi(APIView):
    """Let a user see the project's spend (its viewers, org admins, fleet admins may)."""

    @extend_schema_serializer(component_name="ProjectViewerInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()

    @extend_schema(operation_id="project_viewers_grant", request=InputSerializer,
                   responses={201: GrantOutputSerializer})
    def post(self, request, project_name: str):
        access = request_access(request)
        project = project_get(access=access, name=project_name)
        data = ProjectViewerGrantApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _user_by_name(data.validated_data["username"])
        try:
            grant = role_grant(user=user, role=Role.PROJECT_BILLING_VIEWER, project=project,
                               granted_by=request.user, access=access)
        except (DjangoPermissionDenied, Http404) as exc:
            raise _refuse(exc) from None
        return Response(GrantOutputSerializer(_grant_data(grant, project=project)).data,
                        status=status.HTTP_201_CREATED)


class ProjectViewerRevokeApi(APIView):
    """Take a project grant away (JSON body or `?username=`); a missing one is a no-op."""

    @extend_schema_serializer(component_name="ProjectViewerRevokeInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()

    @extend_schema(operation_id="project_viewers_revoke", request=InputSerializer,
                   parameters=[OpenApiParameter("username", str, required=False)],
                   responses={204: None})
    def delete(self, request, project_name: str):
        access = request_access(request)
        project = project_get(access=access, name=project_name)
        data = ProjectViewerRevokeApi.InputSerializer(data=request.data or request.query_params)
        data.is_valid(raise_exception=True)
        user = _user_by_name(data.validated_data["username"])
        try:
            role_revoke(user=user, role=Role.PROJECT_BILLING_VIEWER, project=project,
                        revoked_by=request.user, access=access)
        except (DjangoPermissionDenied, Http404) as exc:
            raise _refuse(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganizationGrantListApi(APIView):
    """Who holds an organization role (org roles, fleet roles may see)."""

    pagination_class = StandardPagination

    @extend_schema(operation_id="organization_grants_list",
                   responses=GrantOutputSerializer(many=True))
    def get(self, request, org_name: str):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        if not access.can_view_org(organization.pk):
            raise exceptions.NotFound()
        grants = organization_grants(organization=organization)
        return paginated(request, self, grants, GrantOutputSerializer,
                          lambda g: _grant_data(g, organization=organization))


class OrganizationGrantCreateApi(APIView):
    """Give a user an organization role (org admins of it, fleet admins)."""

    @extend_schema_serializer(component_name="OrganizationGrantInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(choices=[(r.value, r.label) for r in ORG_ROLES])

    @extend_schema(operation_id="organization_grants_create", request=InputSerializer,
                   responses={201: GrantOutputSerializer})
    def post(self, request, org_name: str):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        data = OrganizationGrantCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _user_by_name(data.validated_data["username"])
        try:
            grant = role_grant(user=user, role=data.validated_data["role"],
                               organization=organization, granted_by=request.user,
                               access=access)
        except (DjangoPermissionDenied, Http404) as exc:
            raise _refuse(exc) from None
        return Response(GrantOutputSerializer(_grant_data(grant, organization=organization)).data,
                        status=status.HTTP_201_CREATED)


class OrganizationGrantRevokeApi(APIView):
    """Take an organization role away (JSON body or query); a missing one is a no-op."""

    @extend_schema_serializer(component_name="OrganizationGrantRevokeInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(choices=[(r.value, r.label) for r in ORG_ROLES])

    @extend_schema(operation_id="organization_grants_revoke", request=InputSerializer,
                   parameters=[OpenApiParameter("username", str, required=False),
                               OpenApiParameter("role", str, required=False)],
                   responses={204: None})
    def delete(self, request, org_name: str):
        access = request_access(request)
        organization = organization_get(access=access, name=org_name)
        data = OrganizationGrantRevokeApi.InputSerializer(
            data=request.data or request.query_params
        )
        data.is_valid(raise_exception=True)
        user = _user_by_name(data.validated_data["username"])
        try:
            role_revoke(user=user, role=data.validated_data["role"], organization=organization,
                        revoked_by=request.user, access=access)
        except (DjangoPermissionDenied, Http404) as exc:
            raise _refuse(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
