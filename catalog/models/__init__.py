"""The catalog's models, one module per part:

- `features`: services (what a provider sells) and their features
- `metrics`: metrics, resource types and usage metrics, variants, regions
- `prices`: price lists, duration prices and their history, charges
- `offers`: offers and their versions

Django loads an app's models from `catalog.models`, so this package imports every
model class, with the choices of their fields; code imports them from here.
"""

from catalog.models.features import Feature, FeatureKind, FeatureScope, Service
from catalog.models.metrics import (
    OTEL_PROJECT_ATTRIBUTE,
    Aggregation,
    Metric,
    MetricPolicy,
    MetricSource,
    OtelValue,
    Region,
    ResourceType,
    ResourceTypeDependency,
    ServiceClass,
    TimeUnit,
    UsageMetric,
    Variant,
)
from catalog.models.offers import Offer, OfferFeature, OfferVersion, OfferVersionService
from catalog.models.prices import (
    Charge,
    ChargeModel,
    Price,
    PriceChange,
    PriceChangeSource,
    PriceList,
    PriceListKind,
)

__all__ = [
    "OTEL_PROJECT_ATTRIBUTE",
    "Aggregation",
    "Charge",
    "ChargeModel",
    "Feature",
    "FeatureKind",
    "FeatureScope",
    "Metric",
    "MetricPolicy",
    "MetricSource",
    "Offer",
    "OtelValue",
    "OfferFeature",
    "OfferVersion",
    "OfferVersionService",
    "Price",
    "PriceChange",
    "PriceChangeSource",
    "PriceList",
    "PriceListKind",
    "Region",
    "ResourceType",
    "ResourceTypeDependency",
    "Service",
    "ServiceClass",
    "TimeUnit",
    "UsageMetric",
    "Variant",
]
