"""Spend over the API: summaries of an organization's or a project's cycle, and the
itemized lines behind them (paginated JSON, and CSV safe to open in a spreadsheet)."""

import csv
from decimal import Decimal, InvalidOperation

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import visible_organizations, visible_projects
from accounts.permissions import request_access
from core.api import PlainDecimalField, StandardPagination, file_renderer
from cycles.clock import clock_now
from cycles.selectors import cycle_for_label
from invoicing.models import InvoiceLine
from invoicing.selectors import billed_lines, spend_summary
from tenancy.api_fields import MoneyField
from tenancy.selectors import provider_current

NO_CYCLE = "there is no billing cycle {label}"
PERIOD_PARAM = OpenApiParameter(
    "period", str, description="Billing month YYYY-MM in the provider's billing time zone; "
    "default: the current cycle."
)


def _cycle_or_404(request):
    label = request.query_params.get("period")
    try:
        cycle = cycle_for_label(label, now=clock_now())
    except ValueError as exc:
        raise ValidationError({"period": [str(exc)]}) from exc
    if cycle is None:
        raise NotFound(NO_CYCLE.format(label=label or "for the current month"))
    return cycle


class SpendSummarySerializer(serializers.Serializer):
    class PeriodSerializer(serializers.Serializer):
        label = serializers.CharField(source="period_label")
        start = serializers.DateTimeField(source="period_start")
        end = serializers.DateTimeField(source="period_end")
        status = serializers.CharField()

    class TypeSerializer(serializers.Serializer):
        resource_type = serializers.CharField()
        amount = serializers.DecimalField(max_digits=20, decimal_places=2)

    period = PeriodSerializer(source="*")
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=20, decimal_places=2)
    by_resource_type = TypeSerializer(many=True)
    daily_rate = serializers.DecimalField(max_digits=20, decimal_places=2)
    forecast = serializers.DecimalField(max_digits=20, decimal_places=2)
    rated_until = serializers.DateTimeField(allow_null=True)


class OrganizationBillingApi(APIView):
    """Spend of an organization in a cycle (all its projects, every billing account)."""

    @extend_schema(parameters=[PERIOD_PARAM], responses=SpendSummarySerializer)
    def get(self, request, org_name: str):
        access = request_access(request)
        organization = visible_organizations(access).filter(name=org_name).first()
        if organization is None or not access.can_view_org(organization.pk):
            raise NotFound(f"no organization {org_name!r}")
        cycle = _cycle_or_404(request)
        lines = billed_lines(cycle=cycle).filter(project__organization=organization)
        data = SpendSummarySerializer(spend_summary(cycle=cycle, lines=lines)).data
        return Response({"organization": organization.name, **data})


class ProjectBillingApi(APIView):
    """Spend of a project in a cycle."""

    @extend_schema(parameters=[PERIOD_PARAM], responses=SpendSummarySerializer)
    def get(self, request, project_name: str):
        access = request_access(request)
        project = visible_projects(access).filter(name=project_name).first()
        if project is None:
            raise NotFound(f"no project {project_name!r}")
        cycle = _cycle_or_404(request)
        lines = billed_lines(cycle=cycle).filter(project=project)
        data = SpendSummarySerializer(spend_summary(cycle=cycle, lines=lines)).data
        return Response({"project": project.name, **data})


class LineItemSerializer(serializers.ModelSerializer):
    invoice = serializers.CharField(source="invoice.number", allow_null=True)
    invoice_status = serializers.CharField(source="invoice.status")
    currency = serializers.CharField(source="invoice.currency")
    period = serializers.CharField(source="invoice.cycle.label")
    organization = serializers.CharField(source="organization_name")
    project = serializers.CharField(source="project_name")
    resource_type = serializers.CharField(source="metric_key")
    resource = serializers.CharField(source="resource_label")
    quantity = PlainDecimalField()
    rate = PlainDecimalField()
    amount = MoneyField()
    daily_rate = serializers.SerializerMethodField()

    class Meta:
        model = InvoiceLine
        fields = [
            "id", "invoice", "invoice_status", "period", "period_start", "period_end",
            "organization", "project", "resource_type", "variant", "region", "service_class",
            "kind", "description", "resource", "resource_count", "quantity", "unit", "rate",
            "amount", "daily_rate", "currency",
        ]

    def get_daily_rate(self, line) -> str:
        return MoneyField().to_representation((line.details or {}).get("daily_rate", "0"))


ITEM_FILTERS = [
    PERIOD_PARAM,
    OpenApiParameter("organization", str), OpenApiParameter("project", str),
    OpenApiParameter("resource_type", str), OpenApiParameter("region", str),
]


def _items(request):
    access = request_access(request)
    cycle = _cycle_or_404(request)
    lines = (
        billed_lines(cycle=cycle)
        .filter(project__in=visible_projects(access))
        .select_related("invoice__cycle")
        .order_by("id")
    )
    params = request.query_params
    if params.get("organization"):
        lines = lines.filter(project__organization__name=params["organization"])
    if params.get("project"):
        lines = lines.filter(project__name=params["project"])
    if params.get("resource_type"):
        lines = lines.filter(metric_key=params["resource_type"])
    if params.get("region"):
        lines = lines.filter(region=params["region"])
    return lines


class BillingItemsApi(APIView):
    """Itemized billed lines for third-party tools: filterable, paginated JSON."""

    pagination_class = StandardPagination

    @extend_schema(parameters=ITEM_FILTERS, responses=LineItemSerializer(many=True))
    def get(self, request):
        paginator = StandardPagination()
        page = paginator.paginate_queryset(_items(request), request, view=self)
        return paginator.get_paginated_response(LineItemSerializer(page, many=True).data)


CSV_FIELDS = LineItemSerializer.Meta.fields


def csv_safe(value) -> str:
    """A cell a spreadsheet shows as text: formulas (=, +, -, @, tab, CR) are
    neutralized with a leading apostrophe, except plain numbers we wrote."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        try:
            Decimal(text)
            return text
        except InvalidOperation:
            return "'" + text
    return text


class _Echo:
    def write(self, value):
        return value


class BillingItemsCsvApi(APIView):
    """The same items as CSV, streamed, safe to open in a spreadsheet."""

    renderer_classes = [file_renderer("text/csv", "csv")]

    @extend_schema(parameters=ITEM_FILTERS, responses={(200, "text/csv"): str})
    def get(self, request):
        lines = _items(request)
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_FIELDS)
            for line in lines.iterator(chunk_size=2000):
                data = LineItemSerializer(line).data
                yield writer.writerow([csv_safe(data[name]) for name in CSV_FIELDS])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        label = request.query_params.get("period") or "current"
        slug = provider_current().slug
        response["Content-Disposition"] = f'attachment; filename="{slug}-billing-{label}.csv"'
        return response
