"""API views of projects: listing, creating, reading and moving them between their
organization's billing accounts."""

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import AccountRefSerializer, paginated, require_manage
from accounts.models import BillingAccount
from accounts.permissions import request_access
from accounts.projects import project_create, project_move
from accounts.selectors import organization_get, project_get, project_list
from core.api import StandardPagination
from cycles.clock import clock_now

NO_SUCH_ORG = "no organization {name!r}"
NO_SUCH_ACCOUNT = "no billing account {id} in organization {org!r}"


def _account_in_org(organization, billing_account_id: int, field: str = "billing_account"):
    account = BillingAccount.objects.filter(
        organization=organization, pk=billing_account_id
    ).first()
    if account is None:
        raise ValidationError({field: [NO_SUCH_ACCOUNT.format(
            id=billing_account_id, org=organization.name)]})
    return account


class ProjectOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    organization = serializers.CharField()
    billing_account = AccountRefSerializer(allow_null=True, help_text="where it bills now")
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class AssignmentOutputSerializer(serializers.Serializer):
    billing_account = AccountRefSerializer()
    valid_from = serializers.DateTimeField()
    valid_to = serializers.DateTimeField(allow_null=True, help_text="exclusive; null = open")


class ProjectDetailOutputSerializer(ProjectOutputSerializer):
    assignments = AssignmentOutputSerializer(many=True)


def _project_data(project, *, history: bool = False) -> dict:
    current = getattr(project, "current_assignments", [])
    account = current[0].billing_account if current else None
    data = {
        "name": project.name,
        "organization": project.organization.name,
        "billing_account": {"id": account.pk, "name": account.name} if account else None,
        "created_by": project.created_by.username if project.created_by else None,
        "created_at": project.created_at,
    }
    if history:
        data["assignments"] = [
            {"billing_account": {"id": a.billing_account.pk, "name": a.billing_account.name},
             "valid_from": a.valid_from, "valid_to": a.valid_to}
            for a in project.assignment_history
        ]
    return data


class ProjectListApi(APIView):
    """Projects the caller may see, with the account each bills to now."""

    pagination_class = StandardPagination

    @extend_schema(operation_id="projects_list",
                   parameters=[OpenApiParameter("organization", str, required=False)],
                   responses=ProjectOutputSerializer(many=True))
    def get(self, request):
        access = request_access(request)
        organization = None
        if request.query_params.get("organization"):
            organization = organization_get(
                access=access, name=request.query_params["organization"]
            )
        projects = project_list(access=access, organization=organization, at=clock_now())
        return paginated(request, self, projects, ProjectOutputSerializer, _project_data)


class ProjectCreateApi(APIView):
    """Create a project (org admins of its organization, fleet admins). It bills to the
    organization's default account unless another of its accounts is given."""

    @extend_schema_serializer(component_name="ProjectCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(help_text="lowercase letters, digits and '-'")
        organization = serializers.CharField()
        billing_account = serializers.IntegerField(required=False, allow_null=True)
        billing_from = serializers.DateTimeField(
            required=False, allow_null=True,
            help_text="When the project starts billing to its account (ISO 8601 with "
            "offset), to import its history: not before the provider's billing start nor "
            "in a finalized cycle (409). Omitted: the start of the current cycle.",
        )

    @extend_schema(operation_id="projects_create", request=InputSerializer,
                   responses={201: ProjectDetailOutputSerializer})
    def post(self, request):
        access = request_access(request)
        data = ProjectCreateApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org_name = data.validated_data["organization"]
        try:
            organization = organization_get(access=access, name=org_name)
        except Http404:
            raise ValidationError({"organization": [NO_SUCH_ORG.format(name=org_name)]}) from None
        require_manage(access, organization.pk)
        account = None
        if data.validated_data.get("billing_account") is not None:
            account = _account_in_org(organization, data.validated_data["billing_account"])
        now = clock_now()
        project = project_create(name=data.validated_data["name"], organization=organization,
                                 billing_account=account, actor=request.user, now=now,
                                 billing_from=data.validated_data.get("billing_from"))
        project = project_get(access=access, name=project.name, at=now)
        return Response(ProjectDetailOutputSerializer(_project_data(project, history=True)).data,
                        status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    """One project: its organization and which account it bills to, over time."""

    @extend_schema(responses=ProjectDetailOutputSerializer)
    def get(self, request, project_name: str):
        project = project_get(access=request_access(request), name=project_name,
                              at=clock_now())
        return Response(ProjectDetailOutputSerializer(_project_data(project, history=True)).data)


class ProjectMoveApi(APIView):
    """Bill the project to another account of its organization from an instant
    (default now): org admins of the organization, fleet admins."""

    @extend_schema_serializer(component_name="ProjectMoveInput")
    class InputSerializer(serializers.Serializer):
        billing_account = serializers.IntegerField()
        effective_from = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(request=InputSerializer, responses=ProjectDetailOutputSerializer)
    def post(self, request, project_name: str):
        access = request_access(request)
        project = project_get(access=access, name=project_name)
        require_manage(access, project.organization_id)
        data = ProjectMoveApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = _account_in_org(project.organization, data.validated_data["billing_account"])
        now = clock_now()
        project_move(project=project, billing_account=account,
                     effective_from=data.validated_data.get("effective_from"),
                     actor=request.user, now=now)
        project = project_get(access=access, name=project.name, at=now)
        return Response(ProjectDetailOutputSerializer(_project_data(project, history=True)).data)
