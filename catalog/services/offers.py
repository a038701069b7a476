"""Offers and their versions: what consumers accept.

An offer version holds services, charges (usage prices and fixed fees), features
with their limits and duration prices of resource types, in a price list of its
own. A version no one accepted yet is edited in place; an accepted one never
changes, so revising it makes a new version.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.context import records_actor
from catalog.domain.charges import ChargeFieldError, ChargeSpec, charge_spec
from catalog.models import (
    Aggregation,
    Feature,
    FeatureKind,
    Metric,
    Offer,
    OfferFeature,
    OfferVersion,
    Price,
    PriceList,
    PriceListKind,
    Service,
    TimeUnit,
)
from catalog.services.features import (
    FEATURE_UNKNOWN,
    FLAG_HAS_NO_LIMIT,
    SERVICE_UNKNOWN,
    limit_parse,
)
from catalog.services.keys import key_and_name_errors, raise_field_errors
from catalog.services.list_prices import TIME_UNIT_INVALID, TIME_UNITS, charge_create, rate_errors
from catalog.services.metrics import METRIC_IS_DURATION
from catalog.services.resource_types import RESOURCE_TYPE_NOT_FOUND
from catalog.signals import offer_content_changed

# Field-level reasons; tests and the API import them.
METRIC_UNKNOWN = "no metric {key!r}"
METRIC_NOT_IN_SERVICES = "metric {key!r} belongs to no service of this offer"
METRIC_REPEATED = "metric {key!r} has two usage charges"
FEATURE_NOT_IN_SERVICES = "feature {key!r} belongs to no service of this offer"
FEATURE_REPEATED = "feature {key!r} is listed twice"
OFFER_KEY_TAKEN = "an offer with key {key!r} already exists"
OFFER_NEEDS_SERVICE = "an offer bundles at least one service"

# Offer versions' charges and prices are in force for as long as an entitlement is:
# the entitlement window decides, not the price row.
OFFER_PRICES_FROM = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class OfferContent:
    """What an offer version holds. `charges`: dicts of `charge_spec` fields plus
    `metric` (usage) or `service` (fixed fees); `features`: {"feature", "limit"};
    `duration_prices`: {"metric", "variant", "region", "service_class", "rate",
    "time_unit"} for resource types (rated by the duration engine)."""

    services: list[str]
    charges: list[dict] = field(default_factory=list)
    features: list[dict] = field(default_factory=list)
    duration_prices: list[dict] = field(default_factory=list)


# --- checking content ------------------------------------------------------------------


def _services_checked(content: OfferContent, errors: dict) -> tuple[list[str], dict]:
    """(the service keys in order without repeats, {key: Service} of those that exist)."""
    keys = list(dict.fromkeys(content.services or []))
    services = {s.key: s for s in Service.objects.filter(key__in=keys)}
    unknown = [k for k in keys if k not in services]
    if not keys:
        errors["services"] = [OFFER_NEEDS_SERVICE]
    elif unknown:
        errors["services"] = [SERVICE_UNKNOWN.format(key=k) for k in unknown]
    return keys, services


def _metrics_named(content: OfferContent) -> dict[str, Metric]:
    """{key: Metric} of every metric the charges and duration prices name, in one query."""
    metric_keys = {c.get("metric") for c in content.charges if isinstance(c, dict)}
    metric_keys |= {p.get("metric") for p in content.duration_prices if isinstance(p, dict)}
    return {m.key: m for m in Metric.objects.filter(key__in=metric_keys - {None})}


def _usage_metric_reason(key: str, metric: Metric | None, service_ids: set,
                         seen: set[str]) -> str | None:
    """Why a usage charge may not price metric `key` in this offer (None: it may)."""
    if metric is None:
        return METRIC_UNKNOWN.format(key=key)
    if metric.aggregation == Aggregation.DURATION:
        return METRIC_IS_DURATION.format(key=key)
    if metric.service_id not in service_ids:
        return METRIC_NOT_IN_SERVICES.format(key=key)
    if key in seen:
        return METRIC_REPEATED.format(key=key)
    return None


def _charge_checked(raw, prefix: str, *, metrics: dict, services: dict, service_ids: set,
                    seen_metrics: set[str], errors: dict) -> tuple | None:
    """(spec, metric, service) of one charge, or None with its reasons in `errors`."""
    if not isinstance(raw, dict):
        errors[prefix] = ["must be an object"]
        return None
    try:
        spec = charge_spec(**{k: v for k, v in raw.items() if k != "service"})
    except ChargeFieldError as error:
        errors.update({f"{prefix}.{name}": reasons for name, reasons in error.errors.items()})
        return None
    except TypeError:
        errors[prefix] = ["unknown charge fields"]
        return None
    if not spec.metric:
        service = services.get(raw.get("service")) if raw.get("service") else None
        if raw.get("service") and service is None:
            errors[f"{prefix}.service"] = [SERVICE_UNKNOWN.format(key=raw.get("service"))]
            return None
        return spec, None, service
    metric = metrics.get(spec.metric)
    if reason := _usage_metric_reason(spec.metric, metric, service_ids, seen_metrics):
        errors[f"{prefix}.metric"] = [reason]
        return None
    seen_metrics.add(spec.metric)
    return spec, metric, metric.service


def _features_checked(content: OfferContent, *, service_ids: set, errors: dict) -> list:
    """[(feature, limit)] the content grants; reasons of the others in `errors`."""
    feature_keys = [f.get("feature") for f in content.features if isinstance(f, dict)]
    features = {f.key: f for f in Feature.objects.filter(key__in=feature_keys)}
    granted = []
    seen: set[str] = set()
    for index, raw in enumerate(content.features):
        prefix = f"features[{index}]"
        key = raw.get("feature") if isinstance(raw, dict) else None
        feature = features.get(key)
        if feature is None:
            errors[f"{prefix}.feature"] = [FEATURE_UNKNOWN.format(key=key)]
            continue
        if feature.service_id not in service_ids:
            errors[f"{prefix}.feature"] = [FEATURE_NOT_IN_SERVICES.format(key=key)]
            continue
        if key in seen:
            errors[f"{prefix}.feature"] = [FEATURE_REPEATED.format(key=key)]
            continue
        seen.add(key)
        limit = limit_parse(raw.get("limit"), errors, f"{prefix}.limit")
        if feature.kind == FeatureKind.FLAG and limit is not None:
            errors[f"{prefix}.limit"] = [FLAG_HAS_NO_LIMIT]
        granted.append((feature, limit))
    return granted


def _duration_price_checked(raw, prefix: str, *, metrics: dict, service_ids: set,
                            errors: dict) -> dict | None:
    """The `Price` fields of one duration price, or None with its reasons in `errors`."""
    metric = metrics.get(raw.get("metric")) if isinstance(raw, dict) else None
    if metric is None or metric.aggregation != Aggregation.DURATION:
        errors[f"{prefix}.metric"] = [RESOURCE_TYPE_NOT_FOUND.format(key=raw.get("metric"))]
        return None
    if metric.service_id not in service_ids:
        errors[f"{prefix}.metric"] = [METRIC_NOT_IN_SERVICES.format(key=metric.key)]
        return None
    rate = raw.get("rate")
    if isinstance(rate, str):
        try:
            rate = Decimal(rate)
        except ArithmeticError:
            rate = None
    if reasons := rate_errors(rate):
        errors[f"{prefix}.rate"] = reasons
        return None
    if raw.get("time_unit") not in TimeUnit.values:
        errors[f"{prefix}.time_unit"] = [TIME_UNIT_INVALID.format(units=TIME_UNITS)]
        return None
    return {"metric": metric, "variant": raw.get("variant") or "",
            "region": raw.get("region") or "",
            "service_class": raw.get("service_class") or "",
            "rate": Decimal(rate), "time_unit": raw["time_unit"]}


def _charges_checked(content: OfferContent, *, metrics: dict, services: dict,
                     service_ids: set, errors: dict) -> list:
    """[(spec, metric, service)] of the content's valid charges; reasons in `errors`."""
    charges = []
    seen_metrics: set[str] = set()
    for index, raw in enumerate(content.charges):
        checked = _charge_checked(raw, f"charges[{index}]", metrics=metrics, services=services,
                                  service_ids=service_ids, seen_metrics=seen_metrics,
                                  errors=errors)
        if checked is not None:
            charges.append(checked)
    return charges


def _duration_prices_checked(content: OfferContent, *, metrics: dict, service_ids: set,
                             errors: dict) -> list[dict]:
    """The `Price` fields of the content's valid duration prices; reasons in `errors`."""
    prices = []
    for index, raw in enumerate(content.duration_prices):
        checked = _duration_price_checked(raw, f"duration_prices[{index}]", metrics=metrics,
                                          service_ids=service_ids, errors=errors)
        if checked is not None:
            prices.append(checked)
    return prices


def _checked_content(content: OfferContent) -> tuple[list, list, list, list]:
    """(services, [(spec, metric, service)], [(feature, limit)], [price fields]) or
    ValidationError with field reasons."""
    errors: dict[str, list[str]] = {}
    keys, services = _services_checked(content, errors)
    service_ids = {s.pk for s in services.values()}
    metrics = _metrics_named(content)
    charges = _charges_checked(content, metrics=metrics, services=services,
                               service_ids=service_ids, errors=errors)
    granted = _features_checked(content, service_ids=service_ids, errors=errors)
    prices = _duration_prices_checked(content, metrics=metrics, service_ids=service_ids,
                                      errors=errors)
    raise_field_errors(errors)
    return [services[k] for k in keys], charges, granted, prices


def offer_content_check(content: OfferContent) -> None:
    """ValidationError with field reasons when `content` cannot make an offer version."""
    _checked_content(content)


# --- writing versions ------------------------------------------------------------------


def _fill_version(version: OfferVersion, checked, actor) -> None:
    services, charges, granted, prices = checked
    version.services.set(services)
    for spec, metric, service in charges:
        charge_create(version.price_list, spec, metric=metric, service=service,
                      valid_from=OFFER_PRICES_FROM, actor=actor)
    OfferFeature.objects.bulk_create(
        OfferFeature(version=version, feature=feature, limit=limit) for feature, limit in granted
    )
    # bulk_create sends no post_save: say so to whoever caches offer content.
    offer_content_changed.send(sender=OfferVersion, version=version)
    Price.objects.bulk_create(
        Price(price_list=version.price_list, valid_from=OFFER_PRICES_FROM, created_by=actor, **p)
        for p in prices
    )


def _new_version(offer: Offer, number: int, *, now: datetime, actor, notes: str,
                 checked) -> OfferVersion:
    price_list = PriceList.objects.create(
        key=f"offer-{offer.key}-v{number}", name=f"{offer.name} v{number}",
        kind=PriceListKind.OFFER,
    )
    version = OfferVersion.objects.create(offer=offer, number=number, price_list=price_list,
                                          notes=notes, created_by=actor, created_at=now)
    _fill_version(version, checked, actor)
    return version


@records_actor()
def offer_create(*, key: str, name: str, content: OfferContent, now: datetime,
                 description: str = "", public: bool = True, actor=None) -> OfferVersion:
    """An offer and its first version."""
    key, name = (key or "").strip(), (name or "").strip()
    errors = key_and_name_errors(key, name)
    with transaction.atomic():
        if "key" not in errors and Offer.objects.filter(key=key).exists():
            errors["key"] = [OFFER_KEY_TAKEN.format(key=key)]
        try:
            checked = _checked_content(content)
        except ValidationError as error:
            errors.update(error.message_dict)
        raise_field_errors(errors)
        offer = Offer.objects.create(key=key, name=name, public=bool(public),
                                     description=(description or "").strip())
        return _new_version(offer, 1, now=now, actor=actor, notes="", checked=checked)


def offer_version_content(version: OfferVersion) -> OfferContent:
    """A version's content in the form `offer_revise` takes (to compare or copy it)."""
    charges = []
    for charge in version.price_list.charges.select_related("metric", "service").order_by("id"):
        data = ChargeSpec(
            model=charge.model, name=charge.name, charge_id="",
            unit_price=charge.unit_price, package_size=charge.package_size,
            amount=charge.amount, free_units=charge.free_units,
        ).as_json()
        data.pop("charge_id")
        if charge.tiers:
            data["tiers"] = charge.tiers
        if charge.metric_id:
            data["metric"] = charge.metric.key
        elif charge.service_id:
            data["service"] = charge.service.key
        charges.append(data)
    features = [
        {"feature": f.feature.key, "limit": None if f.limit is None else str(f.limit.normalize())}
        for f in version.features.select_related("feature").order_by("feature__key")
    ]
    prices = [
        {"metric": p.metric.key, "variant": p.variant, "region": p.region,
         "service_class": p.service_class, "rate": format(p.rate.normalize(), "f"),
         "time_unit": p.time_unit}
        for p in version.price_list.prices.select_related("metric").order_by("id")
    ]
    return OfferContent(services=sorted(version.services.values_list("key", flat=True)),
                        charges=charges, features=features, duration_prices=prices)


def _normalized(content: OfferContent, checked) -> tuple:
    services, charges, granted, prices = checked
    return (
        sorted(s.key for s in services),
        sorted(repr(sorted({**spec.as_json(), "charge_id": "",
                            "metric": getattr(metric, "key", None),
                            "service": getattr(service, "key", None)}.items()))
               for spec, metric, service in charges),
        sorted((f.key, None if limit is None else limit.normalize()) for f, limit in granted),
        sorted(repr(sorted({**p, "metric": p["metric"].key,
                            "rate": p["rate"].normalize()}.items())) for p in prices),
    )


@records_actor()
def offer_revise(*, offer: Offer, content: OfferContent, now: datetime, actor=None,
                 notes: str = "") -> OfferVersion:
    """Give the offer new content. A version no one accepted yet is edited in place;
    an accepted one never changes, so the content goes into a new version. The same
    content as the current version changes nothing (returns it)."""
    with transaction.atomic():
        offer = Offer.objects.select_for_update().get(pk=offer.pk)
        current = (offer.versions.select_for_update().select_related("price_list")
                   .order_by("-number").first())
        checked = _checked_content(content)
        before = _checked_content(offer_version_content(current))
        if _normalized(content, checked) == _normalized(content, before):
            return current
        if current.accepted_at is None:
            current.price_list.charges.all().delete()
            current.price_list.prices.all().delete()
            current.features.all().delete()
            if notes:
                OfferVersion.objects.filter(pk=current.pk).update(notes=notes)
            _fill_version(current, checked, actor)
            return current
        return _new_version(offer, current.number + 1, now=now, actor=actor, notes=notes,
                            checked=checked)


def offer_version_mark_accepted(*, version: OfferVersion, now: datetime) -> None:
    """Called when an account accepts the version: from then on it never changes.
    Runs inside the caller's transaction (accounts' entitlement_accept)."""
    OfferVersion.objects.filter(pk=version.pk, accepted_at__isnull=True).update(accepted_at=now)
