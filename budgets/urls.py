"""API routes of budgets, under /api/v1/.

Exact paths only, below the ones accounts and invoicing own
(`projects/<project>`, `organizations/<org>/billing`, ...).
"""

from django.urls import path

from budgets import apis
from core.api import combined_view

PROJECT = "projects/<slug:project_name>/budgets"
ORG = "organizations/<slug:org_name>/budgets"

urlpatterns = [
    path(PROJECT, combined_view(apis.ProjectBudgetListApi, apis.ProjectBudgetCreateApi),
         name="project-budgets"),
    path(f"{PROJECT}/<int:budget_id>",
         combined_view(apis.ProjectBudgetDetailApi, apis.ProjectBudgetUpdateApi,
                       apis.ProjectBudgetDeleteApi),
         name="project-budget"),
    path(ORG, combined_view(apis.OrganizationBudgetListApi, apis.OrganizationBudgetCreateApi),
         name="organization-budgets"),
    path(f"{ORG}/<int:budget_id>",
         combined_view(apis.OrganizationBudgetDetailApi, apis.OrganizationBudgetUpdateApi,
                       apis.OrganizationBudgetDeleteApi),
         name="organization-budget"),
    path("budgets/<int:budget_id>/alerts", combined_view(apis.BudgetAlertListApi),
         name="budget-alerts"),
    path("budgets/<int:budget_id>/webhook-deliveries",
         combined_view(apis.BudgetWebhookDeliveryListApi), name="budget-webhook-deliveries"),
]
