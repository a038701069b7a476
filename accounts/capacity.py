"""Capacity an operator allocates to a project, per resource type, variant, region and
service class (what the unused-capacity reports compare usage with)."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Project, ProjectQuota
from catalog.models import Aggregation, Metric, Region, ServiceClass, Variant

QUOTA_UNKNOWN_TYPE = "no resource type {key!r} in the catalog"
QUOTA_UNKNOWN_VARIANT = "resource type {metric!r} has no variant {key!r}"
QUOTA_UNKNOWN_REGION = "no region {key!r} in the catalog"
QUOTA_BAD_CLASS = "service class must be standard or spot"


def project_quota_set(*, project: Project, resource_type: str, variant: str, region: str,
                      service_class: str = "standard", allocated: int, actor, now: datetime):
    """Allocate capacity to a project (an operator's decision); 0 keeps the row at zero."""
    errors: dict[str, list[str]] = {}
    metric = Metric.objects.filter(key=resource_type, aggregation=Aggregation.DURATION).first()
    if metric is None:
        errors["resource_type"] = [QUOTA_UNKNOWN_TYPE.format(key=resource_type)]
    elif not Variant.objects.filter(metric=metric, key=variant).exists():
        errors["variant"] = [QUOTA_UNKNOWN_VARIANT.format(metric=resource_type, key=variant)]
    if not Region.objects.filter(key=region).exists():
        errors["region"] = [QUOTA_UNKNOWN_REGION.format(key=region)]
    if service_class not in ServiceClass.values:
        errors["service_class"] = [QUOTA_BAD_CLASS]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        quota, _ = ProjectQuota.objects.update_or_create(
            project=project, metric=metric, variant=variant, region=region,
            service_class=service_class,
            defaults={"allocated": allocated, "updated_by": actor, "updated_at": now},
        )
    return quota
