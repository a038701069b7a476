"""Pages of the dashboards, on a provider's host (included at "" by billing/urls.py)."""

from django.urls import path

from dashboards import views

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", views.account, name="account"),
    path("operator/", views.operator, name="operator"),
    path("operator/organizations/", views.operator_organizations,
         name="operator-organizations"),
    path("operator/projects/", views.operator_projects, name="operator-projects"),
    path("operator/invoices/attention/", views.operator_attention, name="operator-attention"),
    path("operator/unentitled/", views.operator_unentitled, name="operator-unentitled"),
    path("operator/credits/", views.operator_credits, name="operator-credits"),
    path("operator/rate/", views.operator_rate, name="operator-rate"),
    path("spend/", views.spend, name="spend"),
    path("orgs/<slug:name>/", views.organization, name="organization"),
    path("orgs/<slug:name>/invoices/", views.organization_invoices,
         name="organization-invoices"),
    path("orgs/<slug:name>/offers/<slug:offer_key>/accept/", views.offer_accept,
         name="offer-accept"),
    path("projects/<slug:name>/", views.project, name="project"),
    path("invoices/<int:invoice_id>/", views.invoice, name="invoice"),
    path("invoices/<int:invoice_id>/pdf", views.invoice_pdf, name="invoice-pdf"),
]
