"""API of the upcoming invoice: the open cycle's draft of one billing account."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import request_access
from accounts.selectors import billing_account_visible
from core.api import PlainDecimalField
from cycles.clock import clock_now
from invoicing.usage_rating import upcoming_invoice
from tenancy.api_fields import MoneyField
from tenancy.selectors import provider_current


class UpcomingLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    description = serializers.CharField()
    project = serializers.CharField(source="project_name")
    resource_type = serializers.CharField(source="metric_key")
    quantity = PlainDecimalField()
    unit = serializers.CharField()
    rate = PlainDecimalField()
    amount = MoneyField()
    details = serializers.DictField()


@extend_schema_serializer(component_name="UpcomingInvoice")
class UpcomingInvoiceSerializer(serializers.Serializer):
    billing_account = serializers.IntegerField()
    period = serializers.CharField(allow_null=True)
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    rated_until = serializers.DateTimeField(allow_null=True)
    total = MoneyField()
    forecast = MoneyField(help_text="The total at the cycle's end if usage keeps its pace.")
    lines = UpcomingLineSerializer(many=True)


class UpcomingInvoiceApi(APIView):
    @extend_schema(operation_id="billing_account_upcoming_invoice",
                   summary="The open cycle's draft invoice and its forecast",
                   responses=UpcomingInvoiceSerializer)
    def get(self, request, billing_account_id: int):
        account = billing_account_visible(access=request_access(request),
                                          billing_account_id=billing_account_id)
        upcoming = upcoming_invoice(billing_account=account, now=clock_now(),
                                    currency=provider_current().currency)
        cycle = upcoming.cycle
        return Response(UpcomingInvoiceSerializer({
            "billing_account": account.pk,
            "period": cycle.label if cycle else None,
            "period_start": cycle.start if cycle else None,
            "period_end": cycle.end if cycle else None,
            "status": upcoming.invoice.status if upcoming.invoice else None,
            "currency": upcoming.currency, "rated_until": upcoming.rated_until,
            "total": upcoming.total, "forecast": upcoming.forecast, "lines": upcoming.lines,
        }).data)
