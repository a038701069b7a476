"""Reads of the catalog: what is in force now, and exactly what rating receives."""

from datetime import UTC, datetime
from decimal import Decimal

from catalog.domain.matching import DurationPrice
from catalog.domain.time_units import TimeUnit
from catalog.models import (
    Aggregation,
    Metric,
    Price,
    PriceChangeSource,
    PriceList,
    PriceListKind,
)
from catalog.selectors import (
    metric_names,
    price_history,
    prices_current,
    prices_current_and_scheduled,
    prices_for_rating,
    variant_descriptions,
)
from catalog.services.list_prices import price_set
from core.periods import Period
from tests.catalog.conftest import ALPHA_DEC_START, ALPHA_NOV_START, NOW, real_queries
from tests.conftest import inside
from tests.factories import EPOCH, make_price

NOVEMBER = Period(start=ALPHA_NOV_START, end=ALPHA_DEC_START)


def test_prices_for_rating_are_the_live_list_prices_overlapping_the_period(
    alpha_catalog, alpha
):
    with inside(alpha):
        instance, disk = alpha_catalog.instance, alpha_catalog.disk
        # Ends exactly where November starts: half-open, so it does not overlap.
        make_price(instance, "0.01", "minute", valid_to=ALPHA_NOV_START)
        general = make_price(instance, "0.10", "minute", valid_from=ALPHA_NOV_START)
        spot = make_price(instance, "0.04", "minute", variant="4cpu-16gb", region="mars",
                          service_class="spot", valid_from=EPOCH,
                          valid_to=datetime(2026, 11, 10, tzinfo=UTC))
        disk_price = make_price(disk, "0.05", "hour", variant="500gb",
                                valid_from=datetime(2026, 11, 30, tzinfo=UTC))
        # Starts exactly at November's end: not in November.
        make_price(disk, "0.06", "hour", region="venus", valid_from=ALPHA_DEC_START)
        superseded = make_price(instance, "0.99", "minute", region="venus",
                                valid_from=datetime(2026, 11, 20, tzinfo=UTC))
        superseded.superseded_at = NOW
        superseded.save()
        # Another price list (an offer) and a usage metric are not rated as list durations.
        offer = PriceList.objects.create(key="pro", name="Pro", kind=PriceListKind.OFFER)
        Price.objects.create(price_list=offer, metric=instance, rate=Decimal("0.07"),
                             time_unit="minute", valid_from=EPOCH)
        requests = Metric.objects.create(key="requests", name="Requests",
                                         aggregation=Aggregation.SUM)
        make_price(requests, "0.001", "")

        with real_queries(at_most=1):
            prices = prices_for_rating(period=NOVEMBER)

    assert prices == [
        DurationPrice(price_id=str(disk_price.pk), metric="disk", variant="500gb", region=None,
                      service_class=None, valid_from=datetime(2026, 11, 30, tzinfo=UTC),
                      valid_to=None, rate=Decimal("0.05"), unit=TimeUnit.HOUR),
        DurationPrice(price_id=str(general.pk), metric="instance", variant=None, region=None,
                      service_class=None, valid_from=ALPHA_NOV_START, valid_to=None,
                      rate=Decimal("0.10"), unit=TimeUnit.MINUTE),
        DurationPrice(price_id=str(spot.pk), metric="instance", variant="4cpu-16gb",
                      region="mars", service_class="spot", valid_from=EPOCH,
                      valid_to=datetime(2026, 11, 10, tzinfo=UTC), rate=Decimal("0.04"),
                      unit=TimeUnit.MINUTE),
    ]
    assert all(isinstance(p.rate, Decimal) for p in prices)


def test_current_and_scheduled_prices_carry_metric_and_variant_description(
    alpha_catalog, alpha
):
    with inside(alpha):
        instance = alpha_catalog.instance
        make_price(instance, "0.01", "minute", valid_to=ALPHA_NOV_START)
        current = make_price(instance, "0.10", "minute", variant="4cpu-16gb",
                             valid_from=ALPHA_NOV_START, valid_to=datetime(2026, 12, 5, tzinfo=UTC))
        scheduled = make_price(instance, "0.20", "minute", variant="4cpu-16gb",
                               valid_from=datetime(2026, 12, 5, tzinfo=UTC))
        with real_queries(at_most=1):
            rows = [(p.pk, p.metric.name, p.variant_description)
                    for p in prices_current(now=NOW)]
        assert rows == [(current.pk, "Instance", "4 CPU, 16 GB Memory")]
        assert [p.pk for p in prices_current_and_scheduled(now=NOW)] == [current.pk, scheduled.pk]
        assert list(prices_current(now=NOW, metric_key="disk")) == []


def test_history_names_who_changed_what(alpha_catalog, alpha):
    with inside(alpha):
        from django.contrib.auth import get_user_model

        alice = get_user_model().objects.get(username="alice")
        price_set(metric_key="instance", rate=Decimal("0.1"), time_unit="minute",
                  effective_from=None, now=NOW, actor=alice, source=PriceChangeSource.ADMIN)
        price_set(metric_key="instance", rate=Decimal("0.2"), time_unit="minute",
                  effective_from=None, now=datetime(2026, 11, 24, tzinfo=UTC), actor=None,
                  source=PriceChangeSource.API)
        history = [(c.previous_rate, c.price.rate, c.changed_by, c.source)
                   for c in price_history(metric_key="instance")]
        assert history == [
            (Decimal("0.1"), Decimal("0.2"), None, "api"),
            (None, Decimal("0.1"), alice, "admin"),
        ]
        assert list(price_history(metric_key="disk")) == []


def test_names_and_descriptions_for_invoices(alpha_catalog, alpha):
    with inside(alpha):
        assert variant_descriptions() == {
            ("disk", "500gb"): "500 GB",
            ("instance", "4cpu-16gb"): "4 CPU, 16 GB Memory",
            ("instance", "8cpu-32gb"): "8 CPU, 32 GB Memory",
        }
        assert metric_names() == {"disk": "Disk", "instance": "Instance"}


def test_every_provider_schema_starts_with_its_list_price_list(beta):
    # Created by catalog's data migration, before any price exists.
    with inside(beta):
        assert list(PriceList.objects.values_list("key", "kind")) == [("list", "list")]
