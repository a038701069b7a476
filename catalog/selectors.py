"""Reads of the catalog: list prices in force, their history, and what rating needs.

"Live" rows are those not superseded (a scheduled price replaced before it took
effect is kept for history only). Periods are half-open: a row is in force at
`t` when `valid_from <= t < valid_to` (no `valid_to`: open-ended).
"""

from datetime import datetime

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from catalog.domain.charges import ChargeSpec, tiers_from_json
from catalog.domain.matching import DurationPrice
from catalog.models import (
    Aggregation,
    Charge,
    Feature,
    Metric,
    Offer,
    OfferFeature,
    OfferVersion,
    Price,
    PriceChange,
    Region,
    ResourceTypeDependency,
    Variant,
)
from core.periods import Period

LIST_PRICE_LIST_KEY = "list"


def _list_prices() -> QuerySet[Price]:
    return Price.objects.filter(
        price_list__key=LIST_PRICE_LIST_KEY, superseded_at__isnull=True
    )


def _with_descriptions(prices: QuerySet[Price]) -> QuerySet[Price]:
    """Join the metric and annotate `variant_description` (one query, no N+1)."""
    description = Variant.objects.filter(
        metric_id=OuterRef("metric_id"), key=OuterRef("variant")
    ).values("description")[:1]
    return prices.select_related("metric").annotate(variant_description=Subquery(description))


_ORDER = ("metric__key", "variant", "region", "service_class", "valid_from", "id")


def metric_get(*, key: str) -> Metric | None:
    return Metric.objects.filter(key=key).first()


def prices_current(*, now: datetime, metric_key: str | None = None) -> QuerySet[Price]:
    """List prices in force at `now`, ordered by key, with metric and variant description."""
    prices = _list_prices().filter(Q(valid_to__isnull=True) | Q(valid_to__gt=now),
                                   valid_from__lte=now)
    if metric_key is not None:
        prices = prices.filter(metric__key=metric_key)
    return _with_descriptions(prices).order_by(*_ORDER)


def prices_current_and_scheduled(
    *, now: datetime, metric_key: str | None = None
) -> QuerySet[Price]:
    """List prices in force at `now` and those scheduled to take effect later.

    A row is scheduled when `valid_from > now`; compare in the caller
    (`price.valid_from > now`) to flag it.
    """
    prices = _list_prices().filter(Q(valid_to__isnull=True) | Q(valid_to__gt=now))
    if metric_key is not None:
        prices = prices.filter(metric__key=metric_key)
    return _with_descriptions(prices).order_by(*_ORDER)


def price_history(*, metric_key: str) -> QuerySet[PriceChange]:
    """Every change of the metric's list prices, newest first, with who made it."""
    return (
        PriceChange.objects.filter(
            price__metric__key=metric_key, price__price_list__key=LIST_PRICE_LIST_KEY
        )
        .select_related("price", "price__metric", "changed_by")
        .order_by("-changed_at", "-id")
    )


def price_get(*, price_id: int) -> Price | None:
    """One price with its metric and variant description."""
    return _with_descriptions(Price.objects.filter(pk=price_id)).first()


def price_change_latest(*, price: Price) -> PriceChange | None:
    """The history row that created `price`, if any."""
    return (
        PriceChange.objects.filter(price=price)
        .select_related("price", "price__metric", "changed_by")
        .order_by("-changed_at", "-id")
        .first()
    )


def prices_for_rating(*, period: Period) -> list[DurationPrice]:
    """Every live list price of a resource type that overlaps `period`, in one query.

    Empty dimensions ("any") become None, as `catalog.domain.matching` expects;
    `price_id` is the row's id as a string. Ordered by key and `valid_from`.
    """
    rows = (
        _list_prices()
        .filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=period.start),
            valid_from__lt=period.end,
            metric__aggregation=Aggregation.DURATION,
        )
        .exclude(time_unit="")
        .order_by(*_ORDER)
        .values_list(
            "id", "metric__key", "variant", "region", "service_class",
            "valid_from", "valid_to", "rate", "time_unit",
        )
    )
    return [
        DurationPrice(
            price_id=str(pk),
            metric=metric,
            variant=variant or None,
            region=region or None,
            service_class=service_class or None,
            valid_from=valid_from,
            valid_to=valid_to,
            rate=rate,
            unit=time_unit,
        )
        for pk, metric, variant, region, service_class, valid_from, valid_to, rate, time_unit
        in rows
    ]


def variant_descriptions() -> dict[tuple[str, str], str]:
    """{(metric key, variant key): description}, as invoices print them."""
    return {
        (metric_key, key): description
        for metric_key, key, description in Variant.objects.values_list(
            "metric__key", "key", "description"
        )
    }


def metric_names() -> dict[str, str]:
    """{metric key: name}."""
    return dict(Metric.objects.values_list("key", "name"))


def region_names() -> dict[str, str]:
    """{region key: name}."""
    return dict(Region.objects.values_list("key", "name"))


# --- the consumer catalog: offers and what rates them ----------------------------------


def _with_content(versions: QuerySet[OfferVersion]) -> QuerySet[OfferVersion]:
    """Versions with their offer, services, features, charges and duration prices:
    five queries for any number of versions."""
    return versions.select_related("offer", "price_list").prefetch_related(
        "services",
        Prefetch("features", queryset=OfferFeature.objects.select_related("feature")),
        Prefetch("price_list__charges",
                 queryset=Charge.objects.select_related("metric").order_by("id")),
        Prefetch("price_list__prices",
                 queryset=Price.objects.select_related("metric").order_by("id")),
    )


def offer_current_versions(*, include_private: bool) -> list[OfferVersion]:
    """The latest version of every offer (public ones only unless asked), by offer key."""
    offers = Offer.objects.all() if include_private else Offer.objects.filter(public=True)
    latest = OfferVersion.objects.filter(offer=OuterRef("offer")).order_by("-number")
    versions = OfferVersion.objects.filter(
        offer__in=offers, pk=Subquery(latest.values("pk")[:1])
    ).order_by("offer__key")
    return list(_with_content(versions))


def offer_version_get(*, offer_key: str, number: int | None = None) -> OfferVersion | None:
    """One version of an offer (its latest without `number`), with its content."""
    versions = OfferVersion.objects.filter(offer__key=offer_key).order_by("-number")
    if number is not None:
        versions = versions.filter(number=number)
    return _with_content(versions).first()


def offer_versions(*, offer_key: str) -> list[OfferVersion]:
    """Every version of an offer, newest first, with their content."""
    return list(_with_content(OfferVersion.objects.filter(offer__key=offer_key)
                              .order_by("-number")))


def charge_spec_of(charge: Charge) -> ChargeSpec:
    """A stored charge as the pure rating code takes it (stored rows were checked)."""
    return ChargeSpec(
        charge_id=str(charge.pk), model=charge.model, name=charge.name,
        metric=charge.metric.key if charge.metric_id else None,
        unit_price=charge.unit_price, package_size=charge.package_size, amount=charge.amount,
        tiers=tiers_from_json(charge.tiers) if charge.tiers else (),
        free_units=charge.free_units,
    )


def charges_of_price_lists(*, price_list_ids) -> dict[int, list[ChargeSpec]]:
    """{price list id: its charges}, in one query."""
    out: dict[int, list[ChargeSpec]] = {pk: [] for pk in price_list_ids}
    for charge in Charge.objects.filter(price_list_id__in=list(price_list_ids)).select_related(
            "metric").order_by("id"):
        out[charge.price_list_id].append(charge_spec_of(charge))
    return out


def list_usage_charges(*, at: datetime) -> dict[str, ChargeSpec]:
    """{metric key: the list usage charge in force at `at`} (chargeback providers)."""
    rows = Charge.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gt=at), valid_from__lte=at,
        price_list__key=LIST_PRICE_LIST_KEY, metric__isnull=False,
    ).select_related("metric")
    return {row.metric.key: charge_spec_of(row) for row in rows}


def offer_duration_prices(*, price_list_ids) -> dict[int, list[DurationPrice]]:
    """{price list id: its duration prices}, as the duration engine takes them."""
    out: dict[int, list[DurationPrice]] = {pk: [] for pk in price_list_ids}
    rows = Price.objects.filter(price_list_id__in=list(price_list_ids),
                                superseded_at__isnull=True).exclude(time_unit="").values_list(
        "price_list_id", "id", "metric__key", "variant", "region", "service_class",
        "valid_from", "valid_to", "rate", "time_unit")
    for list_id, pk, metric, variant, region, service_class, start, end, rate, unit in rows:
        out[list_id].append(DurationPrice(
            price_id=str(pk), metric=metric, variant=variant or None, region=region or None,
            service_class=service_class or None, valid_from=start, valid_to=end, rate=rate,
            unit=unit))
    return out


def metric_services() -> dict[str, int | None]:
    """{metric key: its service id}."""
    return dict(Metric.objects.values_list("key", "service_id"))


def feature_get(*, key: str) -> Feature | None:
    return Feature.objects.filter(key=key).first()


def credit_non_cascading_types() -> frozenset[tuple[str, str]]:
    """(resource type, type it depends on) pairs whose dependency a credit does not
    follow (`ResourceTypeDependency.credit_cascades` off). Any other pair cascades."""
    return frozenset(ResourceTypeDependency.objects.filter(credit_cascades=False)
                     .values_list("resource_type__key", "depends_on__key"))
