"""API routes of invoicing, under /api/v1/."""

from django.urls import path

from invoicing import (
    capacity_apis,
    credit_apis,
    focus_apis,
    invoice_apis,
    payment_apis,
    spend_apis,
    upcoming_apis,
)

urlpatterns = [
    path("organizations/<slug:org_name>/billing", spend_apis.OrganizationBillingApi.as_view(),
         name="organization-billing"),
    path("projects/<slug:project_name>/billing", spend_apis.ProjectBillingApi.as_view(),
         name="project-billing"),
    path("billing/items", spend_apis.BillingItemsApi.as_view(), name="billing-items"),
    path("billing/items.csv", spend_apis.BillingItemsCsvApi.as_view(),
         name="billing-items-csv"),
    path("exports/focus", focus_apis.FocusExportApi.as_view(), name="exports-focus"),
    path("invoices", invoice_apis.InvoiceListApi.as_view(), name="invoice-list"),
    path("invoices/<int:invoice_id>", invoice_apis.InvoiceDetailApi.as_view(),
         name="invoice-detail"),
    path("invoices/<int:invoice_id>/void", invoice_apis.InvoiceVoidApi.as_view(),
         name="invoice-void"),
    path("invoices/<int:invoice_id>/pdf", invoice_apis.InvoicePdfApi.as_view(),
         name="invoice-pdf"),
    path("billing-accounts/<int:billing_account_id>/payment-method",
         payment_apis.PaymentMethodApi.as_view(), name="billing-account-payment-method"),
    path("billing-accounts/<int:billing_account_id>/upcoming-invoice",
         upcoming_apis.UpcomingInvoiceApi.as_view(), name="billing-account-upcoming-invoice"),
    path("stripe/webhook", payment_apis.StripeWebhookApi.as_view(), name="stripe-webhook"),
    path("credits", credit_apis.CreditListCreateApi.as_view(), name="credit-list"),
    path("credits/<int:credit_id>", credit_apis.CreditDetailApi.as_view(), name="credit-detail"),
    path("projects/<slug:project_name>/unused-quota",
         capacity_apis.ProjectUnusedQuotaApi.as_view(), name="project-unused-quota"),
    path("organizations/<slug:org_name>/unused-quota",
         capacity_apis.OrganizationUnusedQuotaApi.as_view(), name="organization-unused-quota"),
    path("projects/<slug:project_name>/quotas", capacity_apis.ProjectQuotaSetApi.as_view(),
         name="project-quotas"),
]
