"""API routes of budgets, under /api/v1/.

Exact paths only, below the ones accounts and invoicing own
(`projects/<project>`, `organizations/<org>/billing`, ...).
"""

from django.urls import path

from budgets import apis


def _route(*operations):
    """One view for operations sharing a path (GET and POST on a collection)."""
    if len(operations) == 1:
        return operations[0].as_view()
    combined = type("".join(op.__name__ for op in operations), operations, {})
    return combined.as_view()


PROJECT = "projects/<slug:project_name>/budgets"
ORG = "organizations/<slug:org_name>/budgets"
PREFS = "notification-preferences"

urlpatterns = [
    path(PROJECT, _route(apis.ProjectBudgetListApi, apis.ProjectBudgetCreateApi),
         name="project-budgets"),
    path(f"{PROJECT}/<int:budget_id>",
         _route(apis.ProjectBudgetDetailApi, apis.ProjectBudgetUpdateApi,
                apis.ProjectBudgetDeleteApi),
         name="project-budget"),
    path(ORG, _route(apis.OrganizationBudgetListApi, apis.OrganizationBudgetCreateApi),
         name="organization-budgets"),
    path(f"{ORG}/<int:budget_id>",
         _route(apis.OrganizationBudgetDetailApi, apis.OrganizationBudgetUpdateApi,
                apis.OrganizationBudgetDeleteApi),
         name="organization-budget"),
    path("budgets/<int:budget_id>/alerts", _route(apis.BudgetAlertListApi),
         name="budget-alerts"),
    path("budgets/<int:budget_id>/webhook-deliveries", _route(apis.BudgetWebhookDeliveryListApi),
         name="budget-webhook-deliveries"),
    path(PREFS, _route(apis.NotificationPreferenceListApi), name="notification-preferences"),
    path(f"{PREFS}/organizations/<slug:org_name>",
         _route(apis.OrganizationPreferenceDetailApi, apis.OrganizationPreferenceSetApi),
         name="organization-notification-preference"),
    path(f"{PREFS}/projects/<slug:project_name>",
         _route(apis.ProjectPreferenceDetailApi, apis.ProjectPreferenceSetApi),
         name="project-notification-preference"),
]
