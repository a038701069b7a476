"""Pages of the dashboards, on a provider's host (included at "" by billing/urls.py)."""

from django.urls import path

from dashboards.views import consumer, credits, home, invoices, late, operator, payments

urlpatterns = [
    path("", home.home, name="home"),
    path("account/", home.account, name="account"),
    path("operator/", operator.operator, name="operator"),
    path("operator/organizations/", operator.operator_organizations,
         name="operator-organizations"),
    path("operator/projects/", operator.operator_projects, name="operator-projects"),
    path("operator/invoices/attention/", operator.operator_attention,
         name="operator-attention"),
    path("operator/unentitled/", operator.operator_unentitled, name="operator-unentitled"),
    path("operator/credits/", credits.operator_credits, name="operator-credits"),
    path("operator/late/", late.operator_late, name="operator-late"),
    path("operator/rate/", operator.operator_rate, name="operator-rate"),
    path("spend/", consumer.spend, name="spend"),
    path("orgs/<slug:name>/", consumer.organization, name="organization"),
    path("orgs/<slug:name>/invoices/", consumer.organization_invoices,
         name="organization-invoices"),
    path("orgs/<slug:name>/offers/<slug:offer_key>/accept/", consumer.offer_accept,
         name="offer-accept"),
    path("projects/<slug:name>/", consumer.project, name="project"),
    path("invoices/<int:invoice_id>/", invoices.invoice, name="invoice"),
    path("invoices/<int:invoice_id>/pdf", invoices.invoice_pdf, name="invoice-pdf"),
    path("invoices/<int:invoice_id>/pay", payments.invoice_pay, name="invoice-pay"),
    path("invoices/<int:invoice_id>/pay/refresh", payments.invoice_pay_refresh,
         name="invoice-pay-refresh"),
    path("billing-accounts/<int:account_id>/payment/", payments.payment_profile,
         name="payment-profile"),
    path("billing-accounts/<int:account_id>/payment/setup-intent",
         payments.payment_setup_intent, name="payment-setup-intent"),
]
