"""Invoicing API: spend summaries, itemized lines (JSON and CSV) and invoices."""

import csv
from decimal import Decimal, InvalidOperation

from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import visible_organizations, visible_projects
from accounts.models import BillingAccount
from accounts.permissions import request_access
from core.api import PlainDecimalField, StandardPagination
from cycles.selectors import cycle_for_label
from invoicing.closing import invoice_void
from invoicing.delivery import PDF_NOT_READY, invoice_pdf_file
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus, PaymentProfile
from invoicing.payments import payment_method_set, payment_profile_for, stripe_webhook_receive
from invoicing.selectors import billed_lines, invoice_list, spend_summary
from tenancy.api_fields import MoneyField
from tenancy.selectors import provider_current

NO_CYCLE = "there is no billing cycle {label}"
NOT_ORG_ADMIN = "Only an admin of the organization may change its payment method."
PERIOD_PARAM = OpenApiParameter(
    "period", str, description="Billing month YYYY-MM in the provider's billing time zone; "
    "default: the current cycle."
)


def _cycle_or_404(request):
    label = request.query_params.get("period")
    try:
        cycle = cycle_for_label(label, now=timezone.now())
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
                              now=timezone.now())
        return Response(InvoiceSerializer(voided).data)


# --- PDFs, cards and Stripe webhooks (issue 5) --------------------------------------


class InvoicePdfApi(APIView):
    """The invoice's PDF, for whoever may see the invoice (rendered once, then stored)."""

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, invoice_id: int):
        _, org_ids = _visible_invoices(request)
        invoice = get_object_or_404(
            invoice_list(organization_ids=org_ids).exclude(status=InvoiceStatus.DRAFT),
            pk=invoice_id,
        )
        path = invoice_pdf_file(invoice_id=invoice.pk, now=timezone.now())
        if path is None:
            raise NotFound(PDF_NOT_READY)
        return FileResponse(path.open("rb"), content_type="application/pdf",
                            as_attachment=True, filename=f"{invoice.number}.pdf")


class PaymentMethodSerializer(serializers.Serializer):
    billing_account = serializers.IntegerField()
    payment_kind = serializers.CharField()
    has_card = serializers.BooleanField()
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField(allow_null=True)
    exp_year = serializers.IntegerField(allow_null=True)


def _payment_method_body(account: BillingAccount, profile: PaymentProfile | None) -> dict:
    card = profile if profile and profile.payment_method_id else None
    return PaymentMethodSerializer({
        "billing_account": account.pk, "payment_kind": account.payment_kind,
        "has_card": card is not None, "brand": card.brand if card else "",
        "last4": card.last4 if card else "", "exp_month": card.exp_month if card else None,
        "exp_year": card.exp_year if card else None,
    }).data


def _account_or_404(request, billing_account_id: int) -> BillingAccount:
    access = request_access(request)
    accounts = BillingAccount.objects.select_related("organization")
    if not access.sees_fleet:
        accounts = accounts.filter(organization_id__in=access.org_ids)
    return get_object_or_404(accounts, pk=billing_account_id)


class PaymentMethodApi(APIView):
    """The card a billing account's invoices are charged on: see it (brand and last four
    digits only) and add or replace it (org admins and fleet admins)."""

    class InputSerializer(serializers.Serializer):
        payment_method = serializers.CharField(
            max_length=255,
            help_text="A Stripe PaymentMethod id created by the client (pm_...).",
        )

        class Meta:
            ref_name = "PaymentMethodInput"

    @extend_schema(responses=PaymentMethodSerializer)
    def get(self, request, billing_account_id: int):
        account = _account_or_404(request, billing_account_id)
        return Response(_payment_method_body(account, payment_profile_for(billing_account=account)))

    @extend_schema(request=InputSerializer, responses=PaymentMethodSerializer)
    def post(self, request, billing_account_id: int):
        account = _account_or_404(request, billing_account_id)
        if not request_access(request).can_manage_org(account.organization_id):
            raise PermissionDenied(NOT_ORG_ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = payment_method_set(
            billing_account=account, payment_method=data.validated_data["payment_method"]
        )
        return Response(_payment_method_body(account, profile))


class StripeWebhookApi(APIView):
    """Stripe events (signature verified with STRIPE_WEBHOOK_SECRET; each event id once)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        event = stripe_webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", ""),
            now=timezone.now(),
        )
        return Response({"received": event.event_id, "outcome": event.outcome})
