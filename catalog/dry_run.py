"""`?dry_run=1` on the catalog's write endpoints: the change's impact on the open cycle
(catalog/previews.py), answered instead of saving it. Refusals are those of saving."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.response import Response

DRY_RUN_PARAMETER = OpenApiParameter(
    "dry_run", OpenApiTypes.BOOL, OpenApiParameter.QUERY, required=False,
    description="1: save nothing; answer each billing account's open-cycle total before and "
    "after the change, rated by the rating engine (the same refusals as saving).",
)


def is_dry_run(request) -> bool:
    return request.query_params.get("dry_run", "").lower() in ("1", "true", "yes")


class ImpactAccountSerializer(serializers.Serializer):
    organization = serializers.CharField()
    billing_account = serializers.CharField()
    currency = serializers.CharField()
    before = serializers.CharField(help_text="Open-cycle total without the change.")
    after = serializers.CharField(help_text="Open-cycle total with the change.")
    difference = serializers.CharField(help_text="after - before")


class ImpactSerializer(serializers.Serializer):
    cycle = serializers.CharField(allow_null=True, help_text="YYYY-MM; null: none is open.")
    rated_until = serializers.DateTimeField()
    note = serializers.CharField(allow_null=True)
    accounts = ImpactAccountSerializer(many=True)


class DryRunOutputSerializer(serializers.Serializer):
    """`?dry_run=1`: what the change would do to the open cycle; nothing saved."""

    dry_run = serializers.BooleanField()
    saved = serializers.BooleanField()
    impact = ImpactSerializer()


def dry_run_response(impact) -> Response:
    return Response({"dry_run": True, "saved": False,
                     "impact": ImpactSerializer(impact.as_json()).data})
