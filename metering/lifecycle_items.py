"""A lifecycle batch's items: each event parsed and checked against the catalog.

`items_parse` reads every item of a batch against what the batch names (resource
types, variants, regions, projects), loaded once per batch; a malformed item gets its
refusal with every field's reasons. `duplicate_reason` says how an event whose id was
already received differs from the one first received.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model

from accounts.models import Project
from catalog.models import Aggregation, Metric, Region, ServiceClass, Variant
from metering.domain.lifecycle import iso
from metering.ingestion import (
    DUPLICATE,
    DUPLICATE_DIFFERENT,
    ERR_NOT_OBJECT,
    ERR_REQUIRED,
    ERR_UNKNOWN_PROJECT,
    ID_MAX,
    Outcomes,
    attributes_field,
    batch_gate,
    field_differences,
    strings_named,
    text_field,
    timestamp_field,
)
from metering.models import IngestionOutcome, LifecycleKind

ERR_KIND = "must be one of: created, started, stopped, resized, deleted"
ERR_UNKNOWN_TYPE = "unknown resource type {key!r}"
ERR_NOT_A_RESOURCE_TYPE = (
    "{key!r} is a metric aggregated by {aggregation}, not a resource type (running time)"
)
ERR_UNKNOWN_VARIANT = "unknown variant {variant!r} of resource type {type!r}"
ERR_UNKNOWN_REGION = "unknown region {key!r}"
ERR_SERVICE_CLASS = "must be one of: standard, spot"
ERR_PARENT_SELF = "a resource cannot depend on itself"
ERR_UNKNOWN_USER = "unknown user {name!r}"
ERR_FOREIGN_USER = "user {name!r} holds no role in organization {organization!r} or its projects"

_KINDS = frozenset(LifecycleKind.values)
_CLASSES = frozenset(ServiceClass.values)


@dataclass(slots=True)
class LifecycleItem:
    """A well-formed event of the batch."""

    index: int
    event_id: str
    resource_id: str
    kind: str
    metric_id: int
    metric_key: str
    variant: str
    project_id: int
    project: str
    region: str
    service_class: str
    parent_resource_id: str | None
    at: datetime
    attributes: dict
    # Who created the resource (a username), when the sender says; its user's pk.
    created_by: str | None = None
    created_by_id: int | None = None


@dataclass(slots=True)
class _Catalog:
    metrics: dict[str, tuple[int, str]]  # key -> (id, aggregation)
    variants: set[tuple[int, str]]
    regions: set[str]
    projects: dict[str, tuple[int, int]]  # name -> (id, organization id)
    organizations: dict[int, str]  # id -> name, of the projects named
    # username -> (user id, organizations it holds a role in, itself or by a project)
    users: dict[str, tuple[int, set[int]]]


def _load_catalog(items: list) -> _Catalog:
    """What the batch names, in at most four queries (none for names it never uses)."""
    type_keys = strings_named(items, "resource_type")
    metrics = {
        key: (pk, aggregation)
        for pk, key, aggregation in Metric.objects.filter(key__in=type_keys).values_list(
            "id", "key", "aggregation"
        )
    } if type_keys else {}
    duration_ids = [pk for pk, aggregation in metrics.values()
                    if aggregation == Aggregation.DURATION]
    variants = set(
        Variant.objects.filter(metric_id__in=duration_ids).values_list("metric_id", "key")
    ) if duration_ids else set()
    region_keys = strings_named(items, "region")
    regions = set(
        Region.objects.filter(key__in=region_keys).values_list("key", flat=True)
    ) if region_keys else set()
    names = strings_named(items, "project")
    projects, organizations = {}, {}
    for name, pk, org_id, org_name in Project.objects.filter(name__in=names).values_list(
        "name", "id", "organization_id", "organization__name"
    ) if names else ():
        projects[name] = (pk, org_id)
        organizations[org_id] = org_name
    return _Catalog(metrics=metrics, variants=variants, regions=regions, projects=projects,
                    organizations=organizations, users=_load_users(items))


def _load_users(items: list) -> dict[str, tuple[int, set[int]]]:
    """The users the batch names as creators, with the organizations they belong to
    (a role on it or on one of its projects): one query, none if no item names one."""
    usernames = strings_named(items, "created_by")
    if not usernames:
        return {}
    users: dict[str, tuple[int, set[int]]] = {}
    rows = get_user_model().objects.filter(username__in=usernames).values_list(
        "username", "id", "role_grants__organization_id",
        "role_grants__project__organization_id")
    for username, pk, org_id, project_org_id in rows:
        _, orgs = users.setdefault(username, (pk, set()))
        orgs.update(i for i in (org_id, project_org_id) if i is not None)
    return users


def items_parse(items: list, outcomes: Outcomes) -> list[LifecycleItem]:
    """The well-formed items of the batch; the others get their refusal in `outcomes`."""
    items = batch_gate(items, outcomes)
    catalog = _load_catalog(items)
    parsed: list[LifecycleItem] = []
    for index, raw in enumerate(items):
        if raw is None:  # refused by the gate
            continue
        if not isinstance(raw, dict):
            outcomes.set(index, None, IngestionOutcome.REFUSED, ERR_NOT_OBJECT)
            continue
        errors: dict[str, list[str]] = {}
        event_id = text_field(raw, "event_id", errors, max_length=ID_MAX)
        item = _parse_one(index, event_id, raw, catalog, errors)
        if errors:
            outcomes.refuse_fields(index, raw, errors)
        else:
            parsed.append(item)
    return parsed


def _parse_one(index: int, event_id, raw: dict, catalog: _Catalog,
               errors: dict) -> LifecycleItem | None:
    """The item, or None with every bad field's reasons in `errors`. Fields are read
    in a fixed order: the order of the reasons in a refusal."""
    resource_id = text_field(raw, "resource_id", errors, max_length=ID_MAX)
    kind = _kind(raw, errors)
    type_key, metric_id = _resource_type(raw, catalog, errors)
    variant = _variant(raw, catalog, errors, type_key=type_key, metric_id=metric_id)
    project = text_field(raw, "project", errors)
    project_id, organization_id = catalog.projects.get(project, (None, None))
    if project is not None and project_id is None:
        errors["project"] = [ERR_UNKNOWN_PROJECT.format(name=project)]
    region = text_field(raw, "region", errors)
    if region is not None and region not in catalog.regions:
        errors["region"] = [ERR_UNKNOWN_REGION.format(key=region)]
    service_class = _service_class(raw, errors)
    parent = text_field(raw, "parent_resource_id", errors, required=False, max_length=ID_MAX)
    if parent is not None and parent == resource_id:
        errors["parent_resource_id"] = [ERR_PARENT_SELF]
    at = timestamp_field(raw, errors)
    attributes = attributes_field(raw, errors)
    creator, creator_id = _creator(raw, catalog, errors, organization_id=organization_id)
    if errors:
        return None
    return LifecycleItem(
        index=index, event_id=event_id, resource_id=resource_id, kind=kind,
        metric_id=metric_id, metric_key=type_key, variant=variant, project_id=project_id,
        project=project, region=region, service_class=str(service_class),
        parent_resource_id=parent, at=at, attributes=attributes,
        created_by=creator, created_by_id=creator_id,
    )


def _creator(raw: dict, catalog: _Catalog, errors: dict, *,
             organization_id: int | None) -> tuple[str | None, int | None]:
    """(username, user id) of the optional creator: a user of the project's
    organization. An unknown or foreign user is refused, never dropped."""
    name = text_field(raw, "created_by", errors, required=False)
    if name is None:
        return None, None
    user = catalog.users.get(name)
    if user is None:
        errors["created_by"] = [ERR_UNKNOWN_USER.format(name=name)]
        return name, None
    if organization_id is not None and organization_id not in user[1]:
        errors["created_by"] = [ERR_FOREIGN_USER.format(
            name=name, organization=catalog.organizations[organization_id])]
    return name, user[0]


def _kind(raw: dict, errors: dict):
    kind = raw.get("kind")
    if kind is None:
        errors["kind"] = [ERR_REQUIRED]
    elif not isinstance(kind, str) or kind not in _KINDS:
        errors["kind"] = [ERR_KIND]
    return kind


def _resource_type(raw: dict, catalog: _Catalog, errors: dict) -> tuple[str | None, int | None]:
    """(type key, metric id): the id None unless the key names a duration metric."""
    type_key = text_field(raw, "resource_type", errors)
    if type_key is None:
        return None, None
    metric = catalog.metrics.get(type_key)
    if metric is None:
        errors["resource_type"] = [ERR_UNKNOWN_TYPE.format(key=type_key)]
    elif metric[1] != Aggregation.DURATION:
        errors["resource_type"] = [
            ERR_NOT_A_RESOURCE_TYPE.format(key=type_key, aggregation=metric[1])
        ]
    else:
        return type_key, metric[0]
    return type_key, None


def _variant(raw: dict, catalog: _Catalog, errors: dict, *, type_key: str | None,
             metric_id: int | None) -> str | None:
    variant = text_field(raw, "variant", errors)
    if variant is not None and metric_id is not None and (metric_id, variant) not in (
        catalog.variants
    ):
        errors["variant"] = [ERR_UNKNOWN_VARIANT.format(variant=variant, type=type_key)]
    return variant


def _service_class(raw: dict, errors: dict):
    service_class = raw.get("service_class")
    if service_class is None:
        return ServiceClass.STANDARD
    if not isinstance(service_class, str) or service_class not in _CLASSES:
        errors["service_class"] = [ERR_SERVICE_CLASS]
    return service_class


# --- how a re-sent id differs ---------------------------------------------------------------


def item_differences(item: LifecycleItem, resource_id: str, kind: str, at: datetime,
                     variant: str) -> str:
    return field_differences([
        ("resource_id", resource_id, item.resource_id, repr),
        ("kind", kind, item.kind, repr),
        ("occurred_at", at, item.at, iso),
        ("variant", variant, item.variant, repr),
    ])


def duplicate_reason(item: LifecycleItem, resource_id, kind, at, variant) -> str:
    differences = item_differences(item, resource_id, kind, at, variant)
    if differences:
        return DUPLICATE_DIFFERENT.format(event_id=item.event_id, differences=differences)
    return DUPLICATE.format(event_id=item.event_id)
