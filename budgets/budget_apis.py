"""Budgets API: the budgets of a project or an organization, each with the current
cycle's spend against it.

Anyone with billing view of a scope (project billing viewers, the organization's
admins and billing viewers, fleet roles) may see its budgets and set new ones; who may
change or delete one is the policy's table (accounts/policy.py): viewers their own,
an organization's admins the organization's, fleet admins all (403 otherwise).
Outside the scope every path answers 404. Money travels as strings.
"""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import organization_in_scope, project_in_scope, request_access
from accounts.policy import BUDGET, CHANGE, DELETE, VIEW, Target, policy_allows
from budgets.api_fields import AmountField, iso_utc, money_string
from budgets.domain import percent_used, thresholds_crossed
from budgets.models import Budget, BudgetScope
from budgets.selectors import budget_get, budget_list, scope_total
from budgets.services import budget_create, budget_delete, budget_update
from core.api import DecimalJSONParser, StandardPagination
from cycles.clock import clock_now
from cycles.selectors import cycle_for_label
from tenancy.selectors import provider_current

# --- scope ---------------------------------------------------------------------------


class _ScopedView(APIView):
    """Resolves the path's scope (a project or an organization) for the caller, or 404."""

    scope_kind = BudgetScope.PROJECT

    def scope(self, request, kwargs):
        if self.scope_kind == BudgetScope.PROJECT:
            return project_in_scope(request, kwargs["project_name"])
        return organization_in_scope(request, kwargs["org_name"])

    def budget(self, request, kwargs, action: str = VIEW) -> Budget:
        organization, project = self.scope(request, kwargs)
        try:
            budget = budget_get(budget_id=kwargs["budget_id"], organization=organization,
                                project=project)
        except Http404 as exc:
            raise exceptions.NotFound(str(exc)) from None
        if not policy_allows(request_access(request), BUDGET, action, budget_target(budget)):
            raise exceptions.PermissionDenied(ERR_NOT_YOURS.format(action=action))
        return budget


ERR_NOT_YOURS = ("you may {action} only the budgets you set (an organization's admins "
                 "and fleet admins may {action} the others)")


def budget_target(budget: Budget) -> Target:
    organization_id = (budget.project.organization_id if budget.project_id
                       else budget.organization_id)
    return Target(organization_id=organization_id, project_id=budget.project_id,
                  owner_id=budget.created_by_id)


# --- serializers ---------------------------------------------------------------------


class BudgetInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    amount = AmountField(help_text="Per billing cycle, in the provider's currency.")
    thresholds = serializers.ListField(
        child=serializers.IntegerField(), help_text="Whole percentages, e.g. [50, 80, 100]."
    )
    recipient_users = serializers.ListField(
        child=serializers.CharField(), default=list,
        help_text="Usernames of the provider's users who see this scope's spend.",
    )
    recipient_emails = serializers.ListField(child=serializers.CharField(), default=list)
    webhook_url = serializers.CharField(allow_blank=True, default="", max_length=500)
    webhook_secret = serializers.CharField(
        allow_blank=True, required=False, write_only=True, max_length=200,
        help_text="Signs each webhook by the Standard Webhooks spec (headers webhook-id, "
        "webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256>). A `whsec_<base64>` "
        "secret is used as its key bytes, any other text as its UTF-8. Never shown again; "
        "omit on update to keep the current one.",
    )


class BudgetCurrentSerializer(serializers.Serializer):
    period = serializers.CharField()
    spend = serializers.CharField(help_text="Spend of the scope in the current cycle so far.")
    percent_used = serializers.CharField()
    thresholds_crossed = serializers.ListField(child=serializers.IntegerField())


class BudgetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    scope = serializers.CharField(help_text="project or organization")
    organization = serializers.CharField()
    project = serializers.CharField(allow_null=True)
    amount = serializers.CharField()
    currency = serializers.CharField()
    thresholds = serializers.ListField(child=serializers.IntegerField())
    recipient_users = serializers.ListField(child=serializers.CharField())
    recipient_emails = serializers.ListField(child=serializers.CharField())
    webhook_url = serializers.CharField(allow_blank=True)
    webhook_secret_set = serializers.BooleanField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    current = BudgetCurrentSerializer(allow_null=True)


class _Current:
    """The current cycle and one scope's spend in it: one lookup and one query per
    request, shared by every budget of the scope."""

    def __init__(self, organization, project):
        self.cycle = cycle_for_label(None, now=clock_now())
        self.spend = (scope_total(cycle=self.cycle, organization=organization, project=project)
                      if self.cycle is not None else None)

    def of(self, budget: Budget) -> dict | None:
        if self.cycle is None:
            return None
        return {
            "period": self.cycle.label,
            "spend": money_string(self.spend),
            "percent_used": str(percent_used(spend=self.spend, amount=budget.amount)),
            "thresholds_crossed": thresholds_crossed(
                spend=self.spend, amount=budget.amount, thresholds=budget.thresholds),
        }


def _budget_data(budget: Budget, current: _Current) -> dict:
    recipients = list(budget.recipients.all())
    organization = (budget.project.organization if budget.scope == BudgetScope.PROJECT
                    else budget.organization)
    return {
        "id": budget.pk,
        "name": budget.name,
        "scope": budget.scope,
        "organization": organization.name,
        "project": budget.project.name if budget.scope == BudgetScope.PROJECT else None,
        "amount": money_string(budget.amount),
        "currency": provider_current().currency,
        "thresholds": list(budget.thresholds),
        "recipient_users": sorted(r.user.username for r in recipients if r.user_id),
        "recipient_emails": sorted(r.email for r in recipients if r.email),
        "webhook_url": budget.webhook_url,
        "webhook_secret_set": bool(budget.webhook_secret),
        "created_by": budget.created_by.username if budget.created_by_id else None,
        "created_at": iso_utc(budget.created_at),
        "updated_at": iso_utc(budget.updated_at),
        "current": current.of(budget),
    }


def _service_args(data: dict) -> dict:
    return {
        "name": data["name"], "amount": data["amount"], "thresholds": data["thresholds"],
        "recipient_usernames": data["recipient_users"],
        "recipient_emails": data["recipient_emails"],
        "webhook_url": data["webhook_url"], "webhook_secret": data.get("webhook_secret"),
    }


def _reload(budget: Budget, organization, project) -> Budget:
    return budget_list(organization=organization, project=project).get(pk=budget.pk)


# --- budgets -------------------------------------------------------------------------


class BudgetListApi(_ScopedView):
    """The scope's budgets, each with the current cycle's spend against it."""

    pagination_class = StandardPagination

    @extend_schema(responses=BudgetOutputSerializer(many=True))
    def get(self, request, **kwargs):
        organization, project = self.scope(request, kwargs)
        budgets = budget_list(organization=organization, project=project)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(budgets, request, view=self)
        current = _Current(organization, project)
        return paginator.get_paginated_response(
            BudgetOutputSerializer([_budget_data(b, current) for b in page], many=True).data
        )


class BudgetCreateApi(_ScopedView):
    """Set a monthly budget on the scope: thresholds, who gets emails, an optional webhook."""

    parser_classes = [DecimalJSONParser]

    @extend_schema(request=BudgetInputSerializer, responses={201: BudgetOutputSerializer})
    def post(self, request, **kwargs):
        organization, project = self.scope(request, kwargs)
        data = BudgetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        budget = budget_create(organization=organization, project=project,
                               **_service_args(data.validated_data), actor=request.user,
                               now=clock_now())
        budget = _reload(budget, organization, project)
        return Response(
            BudgetOutputSerializer(_budget_data(budget, _Current(organization, project))).data,
            status=status.HTTP_201_CREATED,
        )


class BudgetDetailApi(_ScopedView):
    """One budget of the scope, with the current cycle's spend against it."""

    @extend_schema(responses=BudgetOutputSerializer)
    def get(self, request, **kwargs):
        budget = self.budget(request, kwargs)
        organization, project = budget.organization, budget.project
        return Response(
            BudgetOutputSerializer(_budget_data(budget, _Current(organization, project))).data
        )


class BudgetUpdateApi(_ScopedView):
    """Replace the budget's name, amount, thresholds, recipients and webhook."""

    parser_classes = [DecimalJSONParser]

    @extend_schema(request=BudgetInputSerializer, responses=BudgetOutputSerializer)
    def put(self, request, **kwargs):
        budget = self.budget(request, kwargs, CHANGE)
        data = BudgetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        budget = budget_update(budget=budget, **_service_args(data.validated_data),
                               actor=request.user, now=clock_now())
        organization, project = budget.organization, budget.project
        budget = _reload(budget, organization, project)
        return Response(
            BudgetOutputSerializer(_budget_data(budget, _Current(organization, project))).data
        )


class BudgetDeleteApi(_ScopedView):
    """Delete the budget with its alerts and webhook deliveries (its audit events stay)."""

    @extend_schema(responses={204: None})
    def delete(self, request, **kwargs):
        budget = self.budget(request, kwargs, DELETE)
        budget_delete(budget=budget, actor=request.user, now=clock_now())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _scoped(base: type, kind: str) -> type:
    prefix = "Project" if kind == BudgetScope.PROJECT else "Organization"
    return type(f"{prefix}{base.__name__}", (base,), {"scope_kind": kind,
                                                      "__doc__": base.__doc__})


ProjectBudgetListApi = _scoped(BudgetListApi, BudgetScope.PROJECT)
ProjectBudgetCreateApi = _scoped(BudgetCreateApi, BudgetScope.PROJECT)
ProjectBudgetDetailApi = _scoped(BudgetDetailApi, BudgetScope.PROJECT)
ProjectBudgetUpdateApi = _scoped(BudgetUpdateApi, BudgetScope.PROJECT)
ProjectBudgetDeleteApi = _scoped(BudgetDeleteApi, BudgetScope.PROJECT)
OrganizationBudgetListApi = _scoped(BudgetListApi, BudgetScope.ORGANIZATION)
OrganizationBudgetCreateApi = _scoped(BudgetCreateApi, BudgetScope.ORGANIZATION)
OrganizationBudgetDetailApi = _scoped(BudgetDetailApi, BudgetScope.ORGANIZATION)
OrganizationBudgetUpdateApi = _scoped(BudgetUpdateApi, BudgetScope.ORGANIZATION)
OrganizationBudgetDeleteApi = _scoped(BudgetDeleteApi, BudgetScope.ORGANIZATION)
