"""SLA credits over the API: fleet admins create and withdraw, scoped roles read."""

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import visible_organizations, visible_projects
from accounts.models import Organization, Project
from accounts.permissions import IsFleetAdmin, request_access
from core.api import StandardPagination
from cycles.clock import clock_now
from invoicing.credits import credit_create, credit_withdraw
from invoicing.models import Credit
from metering.models import Resource


class CreditSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="name", read_only=True)
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    resource = serializers.SlugRelatedField(slug_field="resource_id", read_only=True)
    resource_type = serializers.CharField(source="metric_key")

    class Meta:
        model = Credit
        fields = ["id", "name", "description", "window_start", "window_end", "scope",
                  "organization", "project", "resource", "region", "resource_type",
                  "created_at"]


class CreditInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    organization = serializers.CharField(required=False)
    project = serializers.CharField(required=False)
    resource = serializers.CharField(required=False)
    region = serializers.CharField(required=False, allow_blank=True, default="")
    resource_type = serializers.CharField(required=False, allow_blank=True, default="")


def _visible_credits(request):
    access = request_access(request)
    credits = Credit.objects.select_related("organization", "project", "resource")
    if access.sees_fleet:
        return credits
    return credits.filter(
        Q(organization__in=visible_organizations(access).filter(pk__in=access.org_ids))
        | Q(project__in=visible_projects(access))
        | Q(resource__project__in=visible_projects(access))
    )


class CreditListCreateApi(APIView):
    pagination_class = StandardPagination

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsFleetAdmin()]
        return super().get_permissions()

    @extend_schema(responses=CreditSerializer(many=True))
    def get(self, request):
        """Credits the caller may see, newest first.

        Fleet roles see every credit; others see the credits of the organizations,
        projects and resources whose spend they may see. Paginated."""
        paginator = StandardPagination()
        page = paginator.paginate_queryset(_visible_credits(request), request, view=self)
        return paginator.get_paginated_response(CreditSerializer(page, many=True).data)

    @extend_schema(request=CreditInputSerializer, responses={201: CreditSerializer})
    def post(self, request):
        """Grant a credit (fleet admin).

        A credit lowers the bill of an organization, a project or a resource in a
        window, for a region and resource type if given; it applies when the cycles
        it covers are rated."""
        data = CreditInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        targets = {}
        for field, model, lookup in (("organization", Organization, "name"),
                                     ("project", Project, "name"),
                                     ("resource", Resource, "resource_id")):
            if given.get(field):
                target = model.objects.filter(**{lookup: given[field]}).first()
                if target is None:
                    raise NotFound(f"no {field} {given[field]!r}")
                targets[field] = target
        credit = credit_create(
            name=given["name"], description=given["description"],
            window_start=given["window_start"], window_end=given["window_end"],
            region=given["region"], metric_key=given["resource_type"], actor=request.user,
            now=clock_now(), **targets,
        )
        return Response(CreditSerializer(credit).data, status=status.HTTP_201_CREATED)


class CreditDetailApi(APIView):
    def get_permissions(self):
        if self.request.method == "DELETE":
            return [IsFleetAdmin()]
        return super().get_permissions()

    @extend_schema(responses=CreditSerializer)
    def get(self, request, credit_id: int):
        """One credit, for whoever may see its target's spend."""
        return Response(CreditSerializer(get_object_or_404(_visible_credits(request),
                                                           pk=credit_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, credit_id: int):
        """Withdraw a credit (fleet admin); finalized invoices keep what it gave."""
        credit_withdraw(credit=get_object_or_404(Credit, pk=credit_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
