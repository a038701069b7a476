"""API routes of catalog, under /api/v1/."""

from django.urls import path

from catalog.apis import ResourceTypeBillingApi, ResourceTypeBillingHistoryApi, SystemBillingApi
from catalog.offer_apis import OfferDetailApi, OfferListApi
from catalog.otel_apis import MetricOtelMappingApi

urlpatterns = [
    path("offers", OfferListApi.as_view(), name="offers"),
    path("offers/<slug:offer_key>", OfferDetailApi.as_view(), name="offer"),
    path("metrics/<slug:metric_key>/otel", MetricOtelMappingApi.as_view(),
         name="metric-otel-mapping"),
    path("system/billing", SystemBillingApi.as_view(), name="system-billing"),
    path(
        "system/billing/<str:resource_type>",
        ResourceTypeBillingApi.as_view(),
        name="system-billing-resource-type",
    ),
    path(
        "system/billing/<str:resource_type>/history",
        ResourceTypeBillingHistoryApi.as_view(),
        name="system-billing-resource-type-history",
    ),
]
