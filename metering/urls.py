"""API routes of metering, under /api/v1/."""

from django.urls import path

from metering.lifecycle_apis import LifecycleEventsIngestApi, ResourceDetailApi
from metering.otlp_apis import OtlpMetricsApi
from metering.usage_apis import LateUsageApi, UnentitledUsageApi, UsageEventsIngestApi

urlpatterns = [
    path("usage/events", UsageEventsIngestApi.as_view(), name="usage-events-ingest"),
    path("usage/unentitled", UnentitledUsageApi.as_view(), name="usage-unentitled"),
    # OTLP/HTTP's own path under the exporter's base URL (/api/v1/otlp).
    path("otlp/v1/metrics", OtlpMetricsApi.as_view(), name="otlp-metrics"),
    path("usage/late", LateUsageApi.as_view(), name="usage-late"),
    # Before the detail route: "events" is this route's, not a resource id.
    path("resources/events", LifecycleEventsIngestApi.as_view(), name="resource-events-ingest"),
    path("resources/<str:resource_id>", ResourceDetailApi.as_view(), name="resource-detail"),
]
