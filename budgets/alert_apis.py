"""What a budget sent, over the API: its alerts (with each email's status) and its
webhook deliveries. Visible to whoever may see the budget's scope; 404 otherwise."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import request_access
from budgets.alerts import webhook_subject
from budgets.api_fields import iso_utc, money_string
from budgets.models import Budget
from budgets.selectors import budget_alert_list, budget_get_visible
from core.api import StandardPagination
from notifications.selectors import outbox_statuses
from notifications.webhooks import webhook_deliveries_for, webhook_resend

NOT_BUDGET_ADMIN = "Only an admin of the budget's organization may send its webhooks again."
NOT_RESENDABLE = "only a delivered or failed delivery can be sent again (this one is {status})"


class BudgetAlertOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    period = serializers.CharField()
    threshold = serializers.IntegerField()
    recipient = serializers.CharField()
    user = serializers.CharField(allow_null=True)
    spend = serializers.CharField()
    budget_amount = serializers.CharField()
    currency = serializers.CharField()
    email_status = serializers.CharField(allow_null=True,
                                         help_text="pending, sending, sent or failed")
    created_at = serializers.CharField()


def _visible_budget(request, budget_id: int) -> Budget:
    try:
        return budget_get_visible(access=request_access(request), budget_id=budget_id)
    except Http404 as exc:
        raise exceptions.NotFound(str(exc)) from None


class BudgetAlertListApi(APIView):
    """Every alert the budget raised: one row per threshold, recipient and cycle."""

    pagination_class = StandardPagination

    @extend_schema(
        parameters=[OpenApiParameter("period", OpenApiTypes.STR, required=False,
                                     description="Billing month YYYY-MM")],
        responses=BudgetAlertOutputSerializer(many=True),
    )
    def get(self, request, budget_id: int):
        budget = _visible_budget(request, budget_id)
        alerts = budget_alert_list(budget=budget, period=request.query_params.get("period"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(alerts, request, view=self)
        statuses = outbox_statuses(keys=[a.outbox_key for a in page])
        data = [
            {"id": a.pk, "period": a.cycle.label, "threshold": a.threshold,
             "recipient": a.recipient, "user": a.user.username if a.user_id else None,
             "spend": money_string(a.spend), "budget_amount": money_string(a.budget_amount),
             "currency": a.currency, "email_status": statuses.get(a.outbox_key),
             "created_at": iso_utc(a.created_at)}
            for a in page
        ]
        return paginator.get_paginated_response(
            BudgetAlertOutputSerializer(data, many=True).data
        )


class WebhookDeliveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    period = serializers.CharField()
    threshold = serializers.IntegerField()
    url = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    next_attempt_at = serializers.CharField(allow_null=True)
    delivered_at = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()


def _delivery_data(d) -> dict:
    return {"id": d.pk, "period": d.details.get("period"),
            "threshold": d.details.get("threshold"), "url": d.url,
            "status": d.status, "attempts": d.attempts, "last_status_code": d.last_status_code,
            "last_error": d.last_error, "next_attempt_at": iso_utc(d.next_attempt_at),
            "delivered_at": iso_utc(d.delivered_at), "created_at": iso_utc(d.created_at)}


class BudgetWebhookDeliveryResendApi(APIView):
    """Send one of the budget's webhook deliveries again by hand (org admins, fleet
    admins): the same `webhook-id` and body, signed anew, attempts starting over."""

    @extend_schema(request=None, responses={202: WebhookDeliveryOutputSerializer})
    def post(self, request, budget_id: int, delivery_id: int):
        budget = _visible_budget(request, budget_id)
        organization_id = budget.organization_id or budget.project.organization_id
        if not request_access(request).can_manage_org(organization_id):
            raise exceptions.PermissionDenied(NOT_BUDGET_ADMIN)
        delivery = webhook_deliveries_for(subject=webhook_subject(budget.pk)).filter(
            pk=delivery_id).first()
        if delivery is None:
            raise exceptions.NotFound(f"no webhook delivery {delivery_id} of this budget")
        if not webhook_resend(delivery_id=delivery.pk):
            raise exceptions.ValidationError({"delivery": [
                NOT_RESENDABLE.format(status=delivery.status)]})
        delivery.refresh_from_db()
        return Response(WebhookDeliveryOutputSerializer(_delivery_data(delivery)).data,
                        status=202)


class BudgetWebhookDeliveryListApi(APIView):
    """The budget's webhook deliveries and how each went."""

    pagination_class = StandardPagination

    @extend_schema(responses=WebhookDeliveryOutputSerializer(many=True))
    def get(self, request, budget_id: int):
        budget = _visible_budget(request, budget_id)
        paginator = self.pagination_class()
        deliveries = webhook_deliveries_for(subject=webhook_subject(budget.pk)).order_by(
            "-details__period", "details__threshold")
        page = paginator.paginate_queryset(deliveries, request, view=self)
        data = [_delivery_data(d) for d in page]
        return paginator.get_paginated_response(
            WebhookDeliveryOutputSerializer(data, many=True).data
        )
