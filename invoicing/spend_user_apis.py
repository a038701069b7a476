"""Spend per user over the API: what each user who created resources spends in a cycle,
and the invoice lines behind one user's figure (invoicing/spend_by_user.py)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import visible_organizations, visible_projects
from accounts.permissions import request_access
from core.api import StandardPagination
from invoicing.spend_apis import PERIOD_PARAM, LineItemSerializer, _cycle_or_404
from invoicing.spend_by_user import spend_by_user, spend_lines_visible, user_lines
from tenancy.api_fields import MoneyField
from tenancy.selectors import provider_current

SCOPE_PARAMS = [
    PERIOD_PARAM,
    OpenApiParameter("organization", str, description="Only this organization's lines."),
    OpenApiParameter("project", str, description="Only this project's lines."),
]
USER_PARAM = OpenApiParameter(
    "user", str, description="The creator's username; absent or empty: the lines "
    "attributed to no user (fees, metered usage, credits, resources with no creator).")

SPEND_BY_USER_DESCRIPTION = """
What each user who created resources spends in the cycle: the sum of the invoice lines
of the resources they created (`created_by` on lifecycle events). Lines of no resource
(recurring and one-time fees, metered usage, credits) or of resources with no creator
are summed in `not_attributed`. The users' amounts plus `not_attributed` equal `total`,
the total of the lines in scope, to the cent (for one organization: its invoices' total).

Scoped by role: fleet roles see every organization, an organization's admins and
billing viewers its lines, a project's billing viewers that project's lines only.
"""


class UserSpendSerializer(serializers.Serializer):
    user = serializers.CharField(source="username", allow_null=True)
    amount = MoneyField()
    lines = serializers.IntegerField()


class SpendByUserSerializer(serializers.Serializer):
    period = serializers.CharField()
    currency = serializers.CharField()
    organization = serializers.CharField(allow_null=True)
    project = serializers.CharField(allow_null=True)
    total = MoneyField()
    users = UserSpendSerializer(many=True)
    not_attributed = UserSpendSerializer()


def _scoped_lines(request):
    """The visible lines of the requested cycle, organization and project (404 for an
    organization or project the caller may not see, as for one that does not exist)."""
    access = request_access(request)
    params = request.query_params
    organization = project = None
    if params.get("organization"):
        organization = visible_organizations(access).filter(
            name=params["organization"]).first()
        if organization is None:
            raise NotFound(f"no organization {params['organization']!r}")
    if params.get("project"):
        project = visible_projects(access).filter(name=params["project"]).first()
        if project is None:
            raise NotFound(f"no project {params['project']!r}")
    cycle = _cycle_or_404(request)
    lines = spend_lines_visible(access=access, cycle=cycle, organization=organization,
                                project=project)
    return cycle, organization, project, lines


class SpendByUserApi(APIView):
    """GET /api/v1/billing/spend-by-user"""

    @extend_schema(operation_id="billing_spend_by_user",
                   summary="Spend per user who created resources",
                   description=SPEND_BY_USER_DESCRIPTION, parameters=SCOPE_PARAMS,
                   responses=SpendByUserSerializer)
    def get(self, request):
        cycle, organization, project, lines = _scoped_lines(request)
        spend = spend_by_user(lines=lines)
        not_attributed = spend.not_attributed
        return Response(SpendByUserSerializer({
            "period": cycle.label, "currency": provider_current().currency,
            "organization": organization.name if organization else None,
            "project": project.name if project else None,
            "total": spend.total, "users": spend.users,
            "not_attributed": {"username": None, "amount": not_attributed.amount,
                               "lines": not_attributed.lines},
        }).data)


class SpendByUserLinesApi(APIView):
    """GET /api/v1/billing/spend-by-user/lines"""

    pagination_class = StandardPagination

    @extend_schema(operation_id="billing_spend_by_user_lines",
                   summary="The invoice lines behind one user's spend",
                   description="The lines whose amounts make up one user's figure in "
                   "`spend-by-user` (quantity x rate = amount, each rounded once), same "
                   "scope and filters; paginated.",
                   parameters=[*SCOPE_PARAMS, USER_PARAM],
                   responses=LineItemSerializer(many=True))
    def get(self, request):
        _, _, _, lines = _scoped_lines(request)
        username = request.query_params.get("user") or None
        if username is None:
            lines = user_lines(lines=lines, user_id=None)
        else:
            lines = lines.filter(created_by__username=username).select_related(
                "invoice__cycle").order_by("invoice_id", "sort_key", "id")
        paginator = StandardPagination()
        page = paginator.paginate_queryset(lines, request, view=self)
        return paginator.get_paginated_response(LineItemSerializer(page, many=True).data)
