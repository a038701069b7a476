"""API routes of budgets, under /api/v1/.

Exact paths only, below the ones accounts and invoicing own
(`projects/<project>`, `organizations/<org>/billing`, ...).
"""

from django.urls import path

from budgets import alert_apis, budget_apis
from core.api import combined_view

PROJECT = "projects/<slug:project_name>/budgets"
ORG = "organizations/<slug:org_name>/budgets"

urlpatterns = [
    path(PROJECT,
         combined_view(budget_apis.ProjectBudgetListApi, budget_apis.ProjectBudgetCreateApi),
         name="project-budgets"),
    path(f"{PROJECT}/<int:budget_id>",
         combined_view(budget_apis.ProjectBudgetDetailApi, budget_apis.ProjectBudgetUpdateApi,
                       budget_apis.ProjectBudgetDeleteApi),
         name="project-budget"),
    path(ORG,
         combined_view(budget_apis.OrganizationBudgetListApi,
                       budget_apis.OrganizationBudgetCreateApi),
         name="organization-budgets"),
    path(f"{ORG}/<int:budget_id>",
         combined_view(budget_apis.OrganizationBudgetDetailApi,
                       budget_apis.OrganizationBudgetUpdateApi,
                       budget_apis.OrganizationBudgetDeleteApi),
         name="organization-budget"),
    path("budgets/<int:budget_id>/alerts", combined_view(alert_apis.BudgetAlertListApi),
         name="budget-alerts"),
    path("budgets/<int:budget_id>/webhook-deliveries",
         combined_view(alert_apis.BudgetWebhookDeliveryListApi),
         name="budget-webhook-deliveries"),
    path("budgets/<int:budget_id>/webhook-deliveries/<int:delivery_id>/resend",
         combined_view(alert_apis.BudgetWebhookDeliveryResendApi),
         name="budget-webhook-delivery-resend"),
]
