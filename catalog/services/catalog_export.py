"""The whole catalog as one document, in the form a catalog file takes
(`catalog_apply`): what `GET /api/v1/catalog` answers, and what a plan compares before
and after applying a file.

Sections are lists of objects keyed by `key` (prices by their dimensions); every
value is a string, number, bool, list or dict, so two exports compare with `==`.
"""

from datetime import UTC, datetime

from catalog.models import (
    Aggregation,
    Charge,
    Feature,
    Metric,
    Offer,
    Price,
    Region,
    ResourceTypeDependency,
    Service,
)
from catalog.selectors import LIST_PRICE_LIST_KEY
from catalog.services.offers import offer_version_content

SECTIONS = ("regions", "services", "features", "resource_types", "dependencies", "metrics",
            "prices", "usage_prices", "offers")


def _plain(value) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def price_key(item: dict) -> str:
    """How a list price is named in a plan: type/variant/region/class, '*' for any."""
    return "/".join([item["resource_type"]] + [item.get(d) or "*" for d in
                                               ("variant", "region", "service_class")])


def _resource_types() -> list[dict]:
    metrics = (Metric.objects.filter(aggregation=Aggregation.DURATION)
               .select_related("service").prefetch_related("variants").order_by("key"))
    return [{"key": m.key, "name": m.name, "unit": m.unit, "description": m.description,
             "service": m.service.key if m.service else None,
             "variants": [{"key": v.key, "description": v.description}
                          for v in m.variants.all()]} for m in metrics]


def _metrics() -> list[dict]:
    metrics = (Metric.objects.exclude(aggregation=Aggregation.DURATION)
               .select_related("service", "policy").order_by("key"))
    return [{"key": m.key, "name": m.name, "aggregation": m.aggregation,
             "unique_attribute": getattr(getattr(m, "policy", None), "unique_attribute", ""),
             "service": m.service.key if m.service else None, "unit": m.unit,
             "description": m.description} for m in metrics]


def _prices(now: datetime) -> list[dict]:
    """The list prices in force at `now` or scheduled after it (not superseded)."""
    rows = (Price.objects.filter(price_list__key=LIST_PRICE_LIST_KEY, superseded_at__isnull=True)
            .exclude(valid_to__lte=now).select_related("metric")
            .order_by("metric__key", "variant", "region", "service_class", "valid_from"))
    return [{"resource_type": p.metric.key, "variant": p.variant, "region": p.region,
             "service_class": p.service_class, "rate": _plain(p.rate), "unit": p.time_unit,
             **({"effective_from": p.valid_from.astimezone(UTC).isoformat()}
                if p.valid_from > now else {})}
            for p in rows]


def _usage_prices(now: datetime) -> list[dict]:
    rows = (Charge.objects.filter(price_list__key=LIST_PRICE_LIST_KEY, metric__isnull=False)
            .exclude(valid_to__lte=now).select_related("metric").order_by("metric__key", "id"))
    out = []
    for c in rows:
        item = {"metric": c.metric.key, "model": c.model, "name": c.name}
        for name in ("unit_price", "package_size", "amount"):
            if getattr(c, name) is not None:
                item[name] = _plain(getattr(c, name))
        if c.tiers:
            item["tiers"] = c.tiers
        if c.free_units:
            item["free_units"] = _plain(c.free_units)
        out.append(item)
    return out


def _offers() -> list[dict]:
    out = []
    for offer in Offer.objects.order_by("key"):
        version = offer.versions.order_by("-number").first()
        content = offer_version_content(version)
        out.append({"key": offer.key, "name": offer.name, "description": offer.description,
                    "public": offer.public, "version": version.number,
                    "services": content.services, "charges": content.charges,
                    "features": content.features,
                    "duration_prices": content.duration_prices})
    return out


def catalog_export(*, now: datetime) -> dict:
    """The catalog as a catalog file would declare it, prices as of `now`."""
    return {
        "regions": [{"key": r.key, "name": r.name} for r in Region.objects.order_by("key")],
        "services": [{"key": s.key, "name": s.name, "description": s.description}
                     for s in Service.objects.order_by("key")],
        "features": [{"key": f.key, "service": f.service.key, "name": f.name, "kind": f.kind,
                      "scope": f.scope, "default_limit": _plain(f.default_limit),
                      "unit": f.unit} for f in Feature.objects.select_related("service")],
        "resource_types": _resource_types(),
        "dependencies": [{"resource_type": d.resource_type.key, "depends_on": d.depends_on.key,
                          "credit_cascades": d.credit_cascades}
                         for d in ResourceTypeDependency.objects.select_related(
                             "resource_type", "depends_on")],
        "metrics": _metrics(),
        "prices": _prices(now),
        "usage_prices": _usage_prices(now),
        "offers": _offers(),
    }


def item_key(section: str, item: dict) -> str:
    if section == "prices":
        scheduled = item.get("effective_from")
        return price_key(item) + (f"@{scheduled}" if scheduled else "")
    if section == "dependencies":
        return f"{item['resource_type']}->{item['depends_on']}"
    if section == "usage_prices":
        return item["metric"]
    return item["key"]


def catalog_diff(before: dict, after: dict) -> list[str]:
    """What changed from `before` to `after`, one line per object: `+ regions/mars`,
    `~ offers/pro: version: 1 -> 2; charges: ...`. Empty: nothing changed."""
    lines = []
    for section in SECTIONS:
        old = {item_key(section, i): i for i in before.get(section, [])}
        new = {item_key(section, i): i for i in after.get(section, [])}
        for key, item in new.items():
            if key not in old:
                lines.append(f"+ {section}/{key}")
            elif item != old[key]:
                fields = [f"{name}: {old[key].get(name)!r} -> {item.get(name)!r}"
                          for name in item if item.get(name) != old[key].get(name)]
                lines.append(f"~ {section}/{key}: " + "; ".join(fields))
        lines += [f"- {section}/{key}" for key in old if key not in new]
    return lines
