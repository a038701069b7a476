"""The whole catalog as one document: read it, and apply a catalog file declaratively.

    GET /api/v1/catalog              the catalog in catalog-file form (fleet roles)
    PUT /api/v1/catalog[?plan=1]     apply a catalog file (fleet admins): JSON, or YAML
                                     with Content-Type application/yaml. With `plan`,
                                     nothing is written: the answer lists what would be.

Applying is idempotent (the same file again answers `"changes": []`), all or nothing
(400 with every item's reasons, by path: `offers[1].charges[0].tiers`), and never
deletes: what a file leaves out is kept. The same as `manage.py catalog apply`.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from catalog.api_access import CatalogApi
from catalog.catalog_yaml import CatalogYamlParser
from catalog.models import PriceChangeSource
from catalog.services.catalog_apply import catalog_apply
from catalog.services.catalog_export import catalog_export
from core.api import DecimalJSONParser
from cycles.clock import clock_now

_APPLIED = inline_serializer(name="CatalogApplyOutput", fields={
    "applied": serializers.BooleanField(help_text="False: a plan, nothing written."),
    "changes": serializers.ListField(
        child=serializers.CharField(),
        help_text="One line per object: `+ regions/mars` (created), `~ offers/pro: "
        "version: 1 -> 2` (changed). Empty: nothing to change."),
})
_CATALOG = inline_serializer(name="CatalogFile", fields={
    section: serializers.ListField(child=serializers.DictField())
    for section in ("regions", "services", "features", "resource_types", "dependencies",
                    "metrics", "prices", "usage_prices", "offers")
})


class CatalogFileApi(CatalogApi):
    parser_classes = [DecimalJSONParser, CatalogYamlParser]

    @extend_schema(operation_id="catalog_export", summary="The whole catalog, as a file",
                   responses=_CATALOG)
    def get(self, request):
        return Response(catalog_export(now=clock_now()))

    @extend_schema(
        operation_id="catalog_apply", summary="Apply a catalog file (declarative, idempotent)",
        parameters=[OpenApiParameter("plan", bool, description="Only show the changes.")],
        request=_CATALOG, responses={200: _APPLIED})
    def put(self, request):
        plan = request.query_params.get("plan") in ("1", "true", "yes")
        result = catalog_apply(document=request.data, now=clock_now(), actor=request.user,
                               source=PriceChangeSource.API, plan=plan)
        return Response({"applied": result.applied, "changes": result.changes})
