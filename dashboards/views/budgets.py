"""Budgets set and removed from the organization and project pages, by whoever may see
the scope's spend (org admins and viewers on their organization, project viewers on
their project), the same rule as the budgets API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import request_access
from accounts.selectors import organization_get, project_get
from budgets.selectors import budget_get_visible
from budgets.services import budget_create, budget_delete
from dashboards.forms import BudgetForm
from dashboards.views.page import page_now

BUDGET_SET = "Budget {name} set: alerts at {thresholds}."
BUDGET_REMOVED = "Budget {name} removed."


def _scope(request, *, org: str | None, project: str | None):
    access = request_access(request)
    if project is not None:
        proj = project_get(access=access, name=project)
        return None, proj, reverse("project", args=[proj.name])
    organization = organization_get(access=access, name=org)
    if not access.can_view_org(organization.pk):
        raise Http404(f"no organization {org!r}")
    return organization, None, reverse("organization", args=[organization.name])


def _reasons(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {reason}" for field, reasons in error.message_dict.items()
                         for reason in reasons)
    return "; ".join(error.messages)


@login_required
@require_POST
def budget_add(request, org: str | None = None, project: str | None = None):
    organization, proj, back = _scope(request, org=org, project=project)
    form = BudgetForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Budget not set: " + "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()))
        return redirect(back + "#budgets")
    data = form.cleaned_data
    try:
        budget = budget_create(
            organization=organization, project=proj, name=data["name"],
            amount=data["amount"], thresholds=data["thresholds"],
            recipient_usernames=[request.user.username] if data["notify_me"] else [],
            recipient_emails=data["emails"], webhook_url=data["webhook_url"],
            webhook_secret=data["webhook_secret"] or None, actor=request.user, now=page_now())
    except ValidationError as error:
        messages.error(request, "Budget not set: " + _reasons(error))
    else:
        messages.success(request, BUDGET_SET.format(
            name=budget.name, thresholds=", ".join(f"{t}%" for t in budget.thresholds)))
    return redirect(back + "#budgets")


@login_required
@require_POST
def budget_remove(request, budget_id: int):
    access = request_access(request)
    budget = budget_get_visible(access=access, budget_id=budget_id)
    back = (reverse("project", args=[budget.project.name]) if budget.project_id
            else reverse("organization", args=[budget.organization.name]))
    budget_delete(budget=budget, actor=request.user, now=page_now())
    messages.success(request, BUDGET_REMOVED.format(name=budget.name))
    return redirect(back + "#budgets")
