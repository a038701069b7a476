"""GET /api/v1/exports/focus: a billing month as FOCUS 1.0 cost and usage data."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.views import APIView

from accounts.permissions import request_access
from core.api import file_renderer
from cycles.clock import clock_now
from cycles.selectors import cycle_for_label
from invoicing.focus import FOCUS_VERSION
from invoicing.focus_files import CSV_MEDIA_TYPE, PARQUET_MEDIA_TYPE, focus_document
from invoicing.selectors import NO_SUCH_PERIOD
from tenancy.selectors import provider_current

FOCUS_DESCRIPTION = f"""
The billing month's charges as FOCUS {FOCUS_VERSION} (the FinOps Open Cost and Usage
Specification) rows, the format FinOps platforms and cloud cost tools import: one row per
charge (usage, purchase, credit), with BillingAccountId, BillingPeriodStart,
ChargePeriodStart/End, ChargeCategory, ChargeDescription, ConsumedQuantity/Unit,
PricingQuantity/Unit, ListUnitPrice, ListCost, BilledCost, EffectiveCost, ContractedCost,
BillingCurrency, RegionId, ResourceId, ResourceType, ServiceName, ServiceCategory,
SubAccountId (the project) and Tags.

The BilledCost column adds up to the month's invoice totals, to the cent: the rows are
the lines of the invoices that count (drafts while the month is open, issued invoices
after; void ones do not). Fleet roles get every billing account; an organization's
roles get their organizations' accounts.

Ask for CSV (`Accept: {CSV_MEDIA_TYPE}`, the default) or Parquet
(`Accept: {PARQUET_MEDIA_TYPE}`), or say `?format=csv|parquet`. Finalized months are also
written once as files beside the invoice PDFs (`<schema>/focus/focus-YYYY-MM.csv` and
`.parquet` under the media root).
"""


class FocusExportApi(APIView):
    """GET /api/v1/exports/focus?period=YYYY-MM"""

    renderer_classes = [file_renderer(CSV_MEDIA_TYPE, "csv"),
                        file_renderer(PARQUET_MEDIA_TYPE, "parquet")]

    @extend_schema(
        operation_id="exports_focus", summary="FOCUS 1.0 cost and usage export",
        description=FOCUS_DESCRIPTION,
        parameters=[
            OpenApiParameter("period", str, description="Billing month YYYY-MM in the "
                             "provider's billing time zone; default: the current one."),
            OpenApiParameter("format", str, enum=["csv", "parquet"],
                             description="Instead of `Accept`."),
        ],
        responses={
            (200, CSV_MEDIA_TYPE): OpenApiTypes.STR,
            (200, PARQUET_MEDIA_TYPE): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="A malformed period (error envelope)."),
            404: OpenApiResponse(description="No billing cycle for that month."),
        },
    )
    def get(self, request):
        label = request.query_params.get("period") or None
        try:
            cycle = cycle_for_label(label, now=clock_now())
        except ValueError as error:
            raise ValidationError({"period": [str(error)]}) from None
        if cycle is None:
            raise NotFound(NO_SUCH_PERIOD.format(label=label or "now"))
        access = request_access(request)
        organization_ids = None if access.sees_fleet else access.org_ids
        file_format = request.accepted_renderer.format
        body = focus_document(cycle=cycle, file_format=file_format,
                              organization_ids=organization_ids)
        response = HttpResponse(body, content_type=request.accepted_renderer.media_type)
        filename = f"{provider_current().slug}-focus-{cycle.label}.{file_format}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
