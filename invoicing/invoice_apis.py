"""Invoices over the API: list, detail, void (fleet admin) and the PDF."""

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import visible_projects
from accounts.permissions import request_access
from core.api import PlainDecimalField, StandardPagination, file_renderer
from cycles.clock import clock_now
from invoicing.closing import invoice_void
from invoicing.delivery import PDF_NOT_READY, invoice_pdf_file
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus
from invoicing.selectors import invoice_list
from invoicing.spend_apis import PERIOD_PARAM
from tenancy.api_fields import MoneyField


class InvoiceLineSerializer(serializers.ModelSerializer):
    resource_type = serializers.CharField(source="metric_key")
    project = serializers.CharField(source="project_name")
    resource = serializers.CharField(source="resource_label")
    quantity = PlainDecimalField()
    rate = PlainDecimalField()
    amount = MoneyField()

    class Meta:
        model = InvoiceLine
        fields = [
            "kind", "period_start", "period_end", "region", "description", "resource",
            "project", "resource_type", "variant", "service_class", "resource_count",
            "quantity", "unit", "rate", "amount", "details",
        ]


class InvoiceSerializer(serializers.ModelSerializer):
    period = serializers.CharField(source="cycle.label")
    period_start = serializers.DateTimeField(source="cycle.start")
    period_end = serializers.DateTimeField(source="cycle.end")
    billing_account = serializers.IntegerField(source="billing_account_id")
    billing_account_name = serializers.CharField(source="billing_account.name")
    organization = serializers.CharField(source="billing_account.organization.name")
    subtotal = MoneyField()
    total = MoneyField()
    pdf = serializers.SerializerMethodField()
    payment_status = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id", "number", "status", "period", "period_start", "period_end",
            "billing_account", "billing_account_name", "organization", "currency",
            "subtotal", "total", "issued_at", "due_at", "rated_at", "voided_at", "void_reason",
            "pdf", "payment_status",
        ]

    def get_pdf(self, invoice) -> str | None:
        """Where to download the PDF (finalized and void invoices), else null."""
        if invoice.status == InvoiceStatus.DRAFT:
            return None
        return f"/api/v1/invoices/{invoice.pk}/pdf"

    def get_payment_status(self, invoice) -> str | None:
        """not_applicable (statement), pending, processing, paid, failed, given_up; null
        for drafts."""
        delivery = getattr(invoice, "delivery", None) if invoice.status != "draft" else None
        return delivery.payment_status if delivery else None


class InvoiceDetailSerializer(InvoiceSerializer):
    lines = InvoiceLineSerializer(many=True)

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "lines"]


def _visible_invoices(request):
    access = request_access(request)
    org_ids = None if access.sees_fleet else access.org_ids
    return access, org_ids


class InvoiceListApi(APIView):
    """Invoices the caller may see (fleet roles: all; org roles: their organizations')."""

    pagination_class = StandardPagination

    @extend_schema(
        parameters=[PERIOD_PARAM, OpenApiParameter("status", str),
                    OpenApiParameter("billing_account", int),
                    OpenApiParameter("organization", str), OpenApiParameter("project", str)],
        responses=InvoiceSerializer(many=True),
    )
    def get(self, request):
        access, org_ids = _visible_invoices(request)
        params = request.query_params
        status = params.get("status")
        if status and status not in InvoiceStatus.values:
            raise ValidationError({"status": [f"one of {', '.join(InvoiceStatus.values)}"]})
        account = params.get("billing_account")
        if account is not None and not account.isdigit():
            raise ValidationError({"billing_account": ["must be an id"]})
        project_id = None
        if params.get("project"):
            project = visible_projects(access).filter(name=params["project"]).first()
            if project is None:
                raise NotFound(f"no project {params['project']!r}")
            project_id = project.pk
        invoices = invoice_list(
            organization_ids=org_ids, billing_account_id=int(account) if account else None,
            project_id=project_id, period=params.get("period"), status=status,
        ).select_related("delivery")
        if params.get("organization"):
            invoices = invoices.filter(billing_account__organization__name=params["organization"])
        paginator = StandardPagination()
        page = paginator.paginate_queryset(invoices, request, view=self)
        return paginator.get_paginated_response(InvoiceSerializer(page, many=True).data)


def _invoice_or_404(request, invoice_id: int) -> Invoice:
    _, org_ids = _visible_invoices(request)
    invoices = (
        invoice_list(organization_ids=org_ids).select_related("delivery").prefetch_related("lines")
    )
    return get_object_or_404(invoices, pk=invoice_id)


class InvoiceDetailApi(APIView):
    """One invoice with its lines, for whoever may see its billing account's spend."""

    @extend_schema(responses=InvoiceDetailSerializer)
    def get(self, request, invoice_id: int):
        return Response(InvoiceDetailSerializer(_invoice_or_404(request, invoice_id)).data)


class InvoiceVoidApi(APIView):
    """Void a finalized invoice (fleet admin), with a reason kept on the invoice."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

        class Meta:
            ref_name = "InvoiceVoidInput"

    @extend_schema(request=InputSerializer, responses=InvoiceSerializer)
    def post(self, request, invoice_id: int):
        invoice = _invoice_or_404(request, invoice_id)
        if not request_access(request).fleet_admin:
            raise PermissionDenied("Only a fleet billing admin may void an invoice.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        voided = invoice_void(invoice=invoice, reason=data.validated_data["reason"],
                              now=clock_now())
        return Response(InvoiceSerializer(voided).data)


class InvoicePdfApi(APIView):
    """The invoice's PDF, for whoever may see the invoice (rendered once, then stored)."""

    renderer_classes = [file_renderer("application/pdf", "pdf")]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, invoice_id: int):
        _, org_ids = _visible_invoices(request)
        invoice = get_object_or_404(
            invoice_list(organization_ids=org_ids).exclude(status=InvoiceStatus.DRAFT),
            pk=invoice_id,
        )
        path = invoice_pdf_file(invoice_id=invoice.pk, now=clock_now())
        if path is None:
            raise NotFound(PDF_NOT_READY)
        return FileResponse(path.open("rb"), content_type="application/pdf",
                            as_attachment=True, filename=f"{invoice.number}.pdf")
