"""API routes of catalog, under /api/v1/."""

from django.urls import path

from catalog import directory_apis as d
from catalog.apis import ResourceTypeBillingApi, ResourceTypeBillingHistoryApi, SystemBillingApi
from catalog.catalog_file_apis import CatalogFileApi
from catalog.offer_apis import OfferDetailApi, OfferListApi
from catalog.offer_write_apis import OfferCreateApi, OfferReviseApi, OfferVersionListApi
from catalog.otel_apis import MetricOtelMappingApi
from core.api import combined_view

RESOURCE_TYPE = "catalog/resource-types/<slug:key>"

urlpatterns = [
    path("offers", combined_view(OfferListApi, OfferCreateApi), name="offers"),
    path("offers/<slug:offer_key>", combined_view(OfferDetailApi, OfferReviseApi),
         name="offer"),
    path("offers/<slug:offer_key>/versions", combined_view(OfferVersionListApi),
         name="offer-versions"),
    path("metrics/<slug:metric_key>/otel", MetricOtelMappingApi.as_view(),
         name="metric-otel-mapping"),
    path("catalog", combined_view(CatalogFileApi), name="catalog-file"),
    path("catalog/resource-types",
         combined_view(d.ResourceTypeListApi, d.ResourceTypeCreateApi),
         name="catalog-resource-types"),
    path(RESOURCE_TYPE, combined_view(d.ResourceTypeDetailApi), name="catalog-resource-type"),
    path(f"{RESOURCE_TYPE}/variants", combined_view(d.VariantAddApi),
         name="catalog-resource-type-variants"),
    path("catalog/regions", combined_view(d.RegionListApi, d.RegionCreateApi),
         name="catalog-regions"),
    path("catalog/regions/<slug:key>", combined_view(d.RegionDetailApi), name="catalog-region"),
    path("catalog/service-classes", combined_view(d.ServiceClassListApi),
         name="catalog-service-classes"),
    path("catalog/dependencies", combined_view(d.DependencyListApi, d.DependencySetApi),
         name="catalog-dependencies"),
    path("catalog/dependencies/<slug:key>/<slug:depends_on>",
         combined_view(d.DependencyRemoveApi), name="catalog-dependency"),
    path("catalog/services", combined_view(d.ServiceListApi, d.ServiceCreateApi),
         name="catalog-services"),
    path("catalog/services/<slug:key>", combined_view(d.ServiceDetailApi),
         name="catalog-service"),
    path("catalog/features", combined_view(d.FeatureListApi, d.FeatureCreateApi),
         name="catalog-features"),
    path("catalog/features/<str:key>", combined_view(d.FeatureDetailApi),
         name="catalog-feature"),
    path("catalog/metrics", combined_view(d.MetricListApi, d.MetricCreateApi),
         name="catalog-metrics"),
    path("catalog/metrics/<str:key>", combined_view(d.MetricDetailApi), name="catalog-metric"),
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
