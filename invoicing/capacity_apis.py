"""Unused quota over the API: allocated, used and unused capacity, and its cost."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import visible_organizations, visible_projects
from accounts.capacity import project_quota_set
from accounts.models import Project
from accounts.permissions import IsFleetAdmin, request_access
from core.api import PlainDecimalField
from cycles.clock import clock_now
from invoicing.capacity import unused_quota
from tenancy.api_fields import MoneyField


class UnusedQuotaSerializer(serializers.Serializer):
    class ItemSerializer(serializers.Serializer):
        project = serializers.CharField()
        resource_type = serializers.CharField()
        variant = serializers.CharField()
        region = serializers.CharField()
        service_class = serializers.CharField()
        allocated = serializers.IntegerField()
        used = serializers.IntegerField()
        unused = serializers.IntegerField()
        rate = PlainDecimalField(allow_null=True)
        unit = serializers.CharField(allow_null=True)
        cost_per_day = MoneyField()
        cost_per_month = MoneyField()

    currency = serializers.CharField()
    at = serializers.DateTimeField()
    cost_per_day = MoneyField()
    cost_per_month = MoneyField()
    items = ItemSerializer(many=True)


class ProjectUnusedQuotaApi(APIView):
    """Capacity a project was allocated and has not used in the current cycle."""

    @extend_schema(responses=UnusedQuotaSerializer)
    def get(self, request, project_name: str):
        projects = visible_projects(request_access(request)).filter(name=project_name)
        if not projects.exists():
            raise NotFound(f"no project {project_name!r}")
        report = unused_quota(projects=projects, now=clock_now())
        return Response(UnusedQuotaSerializer(report).data)


class OrganizationUnusedQuotaApi(APIView):
    """Capacity an organization's projects were allocated and have not used."""

    @extend_schema(responses=UnusedQuotaSerializer)
    def get(self, request, org_name: str):
        access = request_access(request)
        organization = visible_organizations(access).filter(name=org_name).first()
        if organization is None or not access.can_view_org(organization.pk):
            raise NotFound(f"no organization {org_name!r}")
        report = unused_quota(projects=organization.projects.all(), now=clock_now())
        return Response(UnusedQuotaSerializer(report).data)


class ProjectQuotaSetApi(APIView):
    """Allocate capacity to a project (fleet admin)."""

    permission_classes = [IsFleetAdmin]

    class InputSerializer(serializers.Serializer):
        resource_type = serializers.CharField()
        variant = serializers.CharField()
        region = serializers.CharField()
        service_class = serializers.CharField(required=False, default="standard")
        allocated = serializers.IntegerField(min_value=0, max_value=10_000_000)

        class Meta:
            ref_name = "ProjectQuotaInput"

    @extend_schema(request=InputSerializer, responses=UnusedQuotaSerializer)
    def put(self, request, project_name: str):
        project = Project.objects.filter(name=project_name).first()
        if project is None:
            raise NotFound(f"no project {project_name!r}")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        now = clock_now()
        project_quota_set(project=project, actor=request.user, now=now, **data.validated_data)
        projects = Project.objects.filter(pk=project.pk)
        return Response(UnusedQuotaSerializer(unused_quota(projects=projects, now=now)).data)
