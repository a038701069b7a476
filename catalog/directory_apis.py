"""The catalog's directory through the API: what can be consumed, and by which names.

    GET|POST  /catalog/resource-types           GET|PATCH /catalog/resource-types/{key}
    POST      /catalog/resource-types/{key}/variants
    GET|POST  /catalog/regions                  PATCH     /catalog/regions/{key}
    GET       /catalog/service-classes
    GET|POST  /catalog/dependencies             DELETE    /catalog/dependencies/{type}/{on}
    GET|POST  /catalog/services                 GET|PATCH /catalog/services/{key}
    GET|POST  /catalog/features                 GET|PATCH /catalog/features/{key}
    GET|POST  /catalog/metrics                  GET|PATCH /catalog/metrics/{key}

Fleet roles read, fleet admins write (`catalog.view_metric`, `catalog.change_metric`:
the role policy answers); anyone else gets 404. Writes go through the catalog's
services, each in its transaction, recorded by the audit log. Keys never change.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from catalog.api_access import CatalogApi, get_or_404, valid_data
from catalog.models import (
    Aggregation,
    Feature,
    FeatureKind,
    FeatureScope,
    Metric,
    Region,
    ResourceTypeDependency,
    Service,
    ServiceClass,
)
from catalog.services.directory import (
    dependency_remove,
    dependency_set,
    feature_update,
    metric_update,
    region_update,
    resource_type_update,
    service_update,
    variant_ensure,
)
from catalog.services.features import feature_create, service_create
from catalog.services.metrics import metric_create, metric_service_set
from catalog.services.resource_types import region_create, resource_type_create
from core.api import plain_decimal

# --- resource types and variants -----------------------------------------------------


class VariantSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=200, help_text="Printed on invoices.")


class ResourceTypeSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    unit = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    service = serializers.CharField(required=False, allow_null=True, default=None,
                                    help_text="The service whose offers price it (offers).")
    variants = VariantSerializer(many=True, required=False, default=list)


def resource_type_data(metric: Metric) -> dict:
    return {"key": metric.key, "name": metric.name, "unit": metric.unit,
            "description": metric.description,
            "service": metric.service.key if metric.service else None,
            "variants": [{"key": v.key, "description": v.description}
                         for v in metric.variants.all()]}


def _resource_types():
    return (Metric.objects.filter(aggregation=Aggregation.DURATION)
            .select_related("service").prefetch_related("variants").order_by("key"))


class ResourceTypeListApi(CatalogApi):
    @extend_schema(operation_id="catalog_resource_types_list",
                   responses=ResourceTypeSerializer(many=True))
    def get(self, request):
        """List resource types.

        What can be consumed (instances, disks, ...) with their variants; fleet roles only."""
        return Response([resource_type_data(m) for m in _resource_types()])


class ResourceTypeCreateApi(CatalogApi):
    @extend_schema(operation_id="catalog_resource_types_create", request=ResourceTypeSerializer,
                   responses={201: ResourceTypeSerializer})
    def post(self, request):
        """Create a resource type.

        A new kind of resource with its unit and variants; fleet admins only, audited."""
        data = valid_data(ResourceTypeSerializer, request)
        metric = resource_type_create(
            key=data["key"], name=data["name"], unit=data["unit"],
            description=data["description"],
            variants=[(v["key"], v["description"]) for v in data["variants"]])
        if data["service"]:
            metric_service_set(metric_key=metric.key, service_key=data["service"])
        return Response(resource_type_data(_resource_types().get(pk=metric.pk)),
                        status=status.HTTP_201_CREATED)


class ResourceTypeDetailApi(CatalogApi):
    @extend_schema(operation_id="catalog_resource_types_retrieve",
                   responses=ResourceTypeSerializer)
    def get(self, request, key: str):
        """Get a resource type.

        One resource type with its variants."""
        return Response(resource_type_data(get_or_404(_resource_types(), "resource type",
                                                       key=key)))

    @extend_schema(operation_id="catalog_resource_types_update", request=ResourceTypeSerializer,
                   responses=ResourceTypeSerializer,
                   description="Change names, unit, service; listed variants are added or "
                   "their descriptions changed (variants are never removed).")
    def patch(self, request, key: str):
        """Update a resource type.

        Its name, unit or description; the key never changes."""
        get_or_404(_resource_types(), "resource type", key=key)
        data = valid_data(ResourceTypeSerializer, request, partial=True)
        resource_type_update(
            key=key, name=data.get("name"), unit=data.get("unit"),
            description=data.get("description"), service_key=data.get("service"),
            variants=[(v["key"], v["description"]) for v in data.get("variants", [])])
        return Response(resource_type_data(_resource_types().get(key=key)))


class VariantAddApi(CatalogApi):
    @extend_schema(operation_id="catalog_variants_add", request=VariantSerializer,
                   responses={201: ResourceTypeSerializer})
    def post(self, request, key: str):
        """Add a variant.

        A size or flavour of a resource type (e.g. 4cpu-16gb), priced on its own."""
        get_or_404(_resource_types(), "resource type", key=key)
        data = valid_data(VariantSerializer, request)
        variant_ensure(metric_key=key, key=data["key"], description=data["description"])
        return Response(resource_type_data(_resource_types().get(key=key)),
                        status=status.HTTP_201_CREATED)


# --- regions, service classes, dependencies ---------------------------------------------


class RegionSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)


class RegionListApi(CatalogApi):
    @extend_schema(operation_id="catalog_regions_list", responses=RegionSerializer(many=True))
    def get(self, request):
        """List regions.

        The regions prices and resources can name."""
        return Response(RegionSerializer(Region.objects.order_by("key"), many=True).data)


class RegionCreateApi(CatalogApi):
    @extend_schema(operation_id="catalog_regions_create", request=RegionSerializer,
                   responses={201: RegionSerializer})
    def post(self, request):
        """Create a region.

        A region prices and resources can name; fleet admins only, audited."""
        data = valid_data(RegionSerializer, request)
        region = region_create(key=data["key"], name=data["name"])
        return Response(RegionSerializer(region).data, status=status.HTTP_201_CREATED)


class RegionDetailApi(CatalogApi):
    @extend_schema(operation_id="catalog_regions_update", request=RegionSerializer,
                   responses=RegionSerializer)
    def patch(self, request, key: str):
        """Update a region.

        Its display name; the key never changes."""
        get_or_404(Region.objects, "region", key=key)
        data = valid_data(RegionSerializer, request, partial=True)
        region, _ = region_update(key=key, name=data.get("name"))
        return Response(RegionSerializer(region).data)


class ServiceClassSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()


class ServiceClassListApi(CatalogApi):
    @extend_schema(operation_id="catalog_service_classes_list",
                   description="The service classes prices and resources name: fixed by Tally "
                   "(a resource without one is `standard`).",
                   responses=ServiceClassSerializer(many=True))
    def get(self, request):
        """List service classes.

        The fixed classes a resource runs in (standard, spot, ...)."""
        return Response([{"key": c.value, "name": c.label} for c in ServiceClass])


class DependencySerializer(serializers.Serializer):
    resource_type = serializers.CharField()
    depends_on = serializers.CharField()
    credit_cascades = serializers.BooleanField(
        default=True, help_text="A credit on the resource it depends on covers it too.")


def dependency_data(row: ResourceTypeDependency) -> dict:
    return {"resource_type": row.resource_type.key, "depends_on": row.depends_on.key,
            "credit_cascades": row.credit_cascades}


class DependencyListApi(CatalogApi):
    @extend_schema(operation_id="catalog_dependencies_list",
                   responses=DependencySerializer(many=True))
    def get(self, request):
        """List dependencies.

        Which resource types depend on which, and whether an SLA credit cascades to them."""
        rows = ResourceTypeDependency.objects.select_related("resource_type", "depends_on")
        return Response([dependency_data(r) for r in rows])


class DependencySetApi(CatalogApi):
    @extend_schema(operation_id="catalog_dependencies_set", request=DependencySerializer,
                   responses={200: DependencySerializer})
    def post(self, request):
        """Set a dependency.

        A resource type depends on another; credit_cascades decides whether credits reach it."""
        data = valid_data(DependencySerializer, request)
        row, _ = dependency_set(**data)
        return Response(dependency_data(row))


class DependencyRemoveApi(CatalogApi):
    @extend_schema(operation_id="catalog_dependencies_remove", responses={204: None})
    def delete(self, request, key: str, depends_on: str):
        """Remove a dependency.

        Credits on the parent no longer cascade through it."""
        if not dependency_remove(resource_type=key, depends_on=depends_on):
            raise exceptions.NotFound(f"{key!r} does not depend on {depends_on!r}")
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- services, features, metrics -------------------------------------------------------


class ServiceSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ServiceListApi(CatalogApi):
    @extend_schema(operation_id="catalog_services_list", responses=ServiceSerializer(many=True))
    def get(self, request):
        """List services.

        The services an offer can include."""
        return Response(ServiceSerializer(Service.objects.order_by("key"), many=True).data)


class ServiceCreateApi(CatalogApi):
    @extend_schema(operation_id="catalog_services_create", request=ServiceSerializer,
                   responses={201: ServiceSerializer})
    def post(self, request):
        """Create a service.

        A service offers can include; fleet admins only, audited."""
        data = valid_data(ServiceSerializer, request)
        return Response(ServiceSerializer(service_create(**data)).data,
                        status=status.HTTP_201_CREATED)


class ServiceDetailApi(CatalogApi):
    @extend_schema(operation_id="catalog_services_retrieve", responses=ServiceSerializer)
    def get(self, request, key: str):
        """Get a service.

        One service with its description."""
        return Response(ServiceSerializer(get_or_404(Service.objects, "service", key=key)).data)

    @extend_schema(operation_id="catalog_services_update", request=ServiceSerializer,
                   responses=ServiceSerializer)
    def patch(self, request, key: str):
        """Update a service.

        Its name or description; the key never changes."""
        get_or_404(Service.objects, "service", key=key)
        data = valid_data(ServiceSerializer, request, partial=True)
        service, _ = service_update(key=key, name=data.get("name"),
                                    description=data.get("description"))
        return Response(ServiceSerializer(service).data)


class FeatureSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    service = serializers.CharField()
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=FeatureKind.choices)
    scope = serializers.ChoiceField(choices=FeatureScope.choices,
                                    default=FeatureScope.BILLING_ACCOUNT)
    default_limit = serializers.DecimalField(max_digits=30, decimal_places=10, required=False,
                                             allow_null=True, default=None, coerce_to_string=True)
    unit = serializers.CharField(required=False, allow_blank=True, default="")


def feature_data(feature: Feature) -> dict:
    return {"key": feature.key, "service": feature.service.key, "name": feature.name,
            "kind": feature.kind, "scope": feature.scope, "unit": feature.unit,
            "default_limit": None if feature.default_limit is None
            else plain_decimal(feature.default_limit)}


class FeatureListApi(CatalogApi):
    @extend_schema(operation_id="catalog_features_list", responses=FeatureSerializer(many=True))
    def get(self, request):
        """List features.

        The features offers grant (flags and quotas)."""
        return Response([feature_data(f) for f in Feature.objects.select_related("service")])


class FeatureCreateApi(CatalogApi):
    @extend_schema(operation_id="catalog_features_create", request=FeatureSerializer,
                   responses={201: FeatureSerializer})
    def post(self, request):
        """Create a feature.

        A flag or quota offers can grant; fleet admins only, audited."""
        data = valid_data(FeatureSerializer, request)
        feature = feature_create(service_key=data.pop("service"), **data)
        return Response(feature_data(feature), status=status.HTTP_201_CREATED)


class FeatureDetailApi(CatalogApi):
    @extend_schema(operation_id="catalog_features_retrieve", responses=FeatureSerializer)
    def get(self, request, key: str):
        """Get a feature.

        One feature with its kind and scope."""
        return Response(feature_data(get_or_404(Feature.objects.select_related("service"),
                                                 "feature", key=key)))

    @extend_schema(operation_id="catalog_features_update", request=FeatureSerializer,
                   responses=FeatureSerializer)
    def patch(self, request, key: str):
        """Update a feature.

        Its name or description; the key never changes."""
        get_or_404(Feature.objects, "feature", key=key)
        data = valid_data(FeatureSerializer, request, partial=True)
        feature, _ = feature_update(key=key, name=data.get("name"), kind=data.get("kind"),
                                    default_limit=data.get("default_limit"),
                                    unit=data.get("unit"))
        return Response(feature_data(Feature.objects.select_related("service").get(
            pk=feature.pk)))


USAGE_AGGREGATIONS = [(a.value, a.label) for a in Aggregation if a != Aggregation.DURATION]


class MetricSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    aggregation = serializers.ChoiceField(choices=USAGE_AGGREGATIONS)
    unique_attribute = serializers.CharField(
        required=False, allow_blank=True, default="",
        help_text="unique_count: the event attribute whose distinct values are counted.")
    service = serializers.CharField(required=False, allow_null=True, default=None)
    unit = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")


def metric_data(metric: Metric) -> dict:
    policy = getattr(metric, "policy", None)
    return {"key": metric.key, "name": metric.name, "aggregation": metric.aggregation,
            "unique_attribute": policy.unique_attribute if policy else "",
            "service": metric.service.key if metric.service else None,
            "unit": metric.unit, "description": metric.description}


def _metrics():
    return (Metric.objects.exclude(aggregation=Aggregation.DURATION)
            .select_related("service", "policy").order_by("key"))


class MetricListApi(CatalogApi):
    @extend_schema(operation_id="catalog_metrics_list", responses=MetricSerializer(many=True))
    def get(self, request):
        """List usage metrics.

        The metered quantities with their aggregation (sum, max, unique_count, ...)."""
        return Response([metric_data(m) for m in _metrics()])


class MetricCreateApi(CatalogApi):
    @extend_schema(operation_id="catalog_metrics_create", request=MetricSerializer,
                   responses={201: MetricSerializer})
    def post(self, request):
        """Create a usage metric.

        A metered quantity and how its events aggregate; fleet admins only, audited."""
        data = valid_data(MetricSerializer, request)
        metric = metric_create(service_key=data.pop("service"), **data)
        return Response(metric_data(_metrics().get(pk=metric.pk)),
                        status=status.HTTP_201_CREATED)


class MetricDetailApi(CatalogApi):
    @extend_schema(operation_id="catalog_metrics_retrieve", responses=MetricSerializer)
    def get(self, request, key: str):
        """Get a usage metric.

        One metric with its aggregation and unique-count attribute."""
        return Response(metric_data(get_or_404(_metrics(), "metric", key=key)))

    @extend_schema(operation_id="catalog_metrics_update", request=MetricSerializer,
                   responses=MetricSerializer)
    def patch(self, request, key: str):
        """Update a usage metric.

        Its name, unit or policy; the key never changes."""
        get_or_404(_metrics(), "metric", key=key)
        data = valid_data(MetricSerializer, request, partial=True)
        metric_update(key=key, name=data.get("name"), unit=data.get("unit"),
                      description=data.get("description"), aggregation=data.get("aggregation"),
                      unique_attribute=data.get("unique_attribute"),
                      service_key=data.get("service"))
        return Response(metric_data(_metrics().get(key=key)))
