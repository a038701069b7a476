"""Setting list prices: effective instants, replacement, finalized cycles, audit, validation."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from catalog.models import Aggregation, Metric, Price, PriceChange, PriceChangeSource, Variant
from catalog.services.keys import KEY_INVALID
from catalog.services.list_prices import (
    EFFECTIVE_FROM_NAIVE,
    RATE_NEGATIVE,
    RATE_NOT_DECIMAL,
    RATE_TOO_LARGE,
    RATE_TOO_PRECISE,
    REGION_UNKNOWN,
    SERVICE_CLASS_INVALID,
    TIME_UNIT_NOT_ALLOWED,
    TIME_UNIT_REQUIRED,
    VARIANT_UNKNOWN,
    price_set,
)
from catalog.services.resource_types import (
    REGION_KEY_TAKEN,
    RESOURCE_TYPE_KEY_TAKEN,
    VARIANT_DESCRIPTION_REQUIRED,
    VARIANT_KEY_TAKEN,
    ResourceTypeNotFound,
    region_create,
    resource_type_create,
    variant_add,
)
from cycles.guard import CYCLE_FINALIZED, CycleFinalized
from tests.catalog.conftest import (
    ALPHA_DEC_START,
    ALPHA_NOV_START,
    ALPHA_OCT_START,
    BETA_NOV_START,
    NOW,
    close_cycle,
)
from tests.conftest import inside
from tests.factories import EPOCH, make_price

User = get_user_model()


def _set(rate: str, *, now=NOW, effective_from=None, actor=None, **key):
    key.setdefault("metric_key", "instance")
    key.setdefault("time_unit", "minute")
    return price_set(rate=Decimal(rate), effective_from=effective_from, now=now, actor=actor,
                     source=PriceChangeSource.API, **key)


def _rows(metric_key="instance"):
    """(valid_from, valid_to, rate, superseded?) of the key's rows, oldest first."""
    return [
        (p.valid_from, p.valid_to, p.rate, p.superseded_at is not None)
        for p in Price.objects.filter(metric__key=metric_key).order_by("valid_from", "id")
    ]


def test_without_an_instant_a_price_applies_from_the_start_of_alphas_auckland_month(
    alpha_catalog, alpha
):
    with inside(alpha):
        alice = User.objects.get(username="alice")
        price = _set("0.10", actor=alice, variant="4cpu-16gb", region="mars")
        price.refresh_from_db()
        # 2026-11-01 00:00 in Auckland (NZDT) is 2026-10-31 11:00 UTC.
        assert price.valid_from == ALPHA_NOV_START
        assert price.valid_to is None
        assert price.rate == Decimal("0.1000000000")
        assert (price.variant, price.region, price.service_class) == ("4cpu-16gb", "mars", "")
        assert price.price_list.key == "list"
        assert price.created_by == alice
        change = PriceChange.objects.get()
        assert change.price == price
        assert change.previous_rate is None
        assert change.effective_from == ALPHA_NOV_START
        assert change.changed_by == alice
        assert change.changed_at == NOW
        assert change.source == PriceChangeSource.API


def test_beta_bills_utc_months(beta_catalog, beta):
    with inside(beta):
        assert _set("0.10").valid_from == BETA_NOV_START


def test_a_change_mid_cycle_replaces_the_price_for_the_whole_open_cycle(alpha_catalog, alpha):
    with inside(alpha):
        old = make_price(alpha_catalog.instance, "0.10", "minute")
        new = _set("0.20")
        assert _rows() == [
            (EPOCH, ALPHA_NOV_START, Decimal("0.1"), False),
            (ALPHA_NOV_START, None, Decimal("0.2"), False),
        ]
        change = PriceChange.objects.get()
        assert (change.price_id, change.previous_rate) == (new.pk, Decimal("0.1"))
        old.refresh_from_db()
        assert old.valid_to == ALPHA_NOV_START


def test_a_scheduled_price_splits_the_price_in_force(alpha_catalog, alpha):
    with inside(alpha):
        make_price(alpha_catalog.instance, "0.10", "minute")
        december = datetime(2026, 12, 15, tzinfo=UTC)
        _set("0.30", effective_from=december)
        assert _rows() == [
            (EPOCH, december, Decimal("0.1"), False),
            (december, None, Decimal("0.3"), False),
        ]
        assert PriceChange.objects.get().previous_rate == Decimal("0.1")


def test_rescheduling_supersedes_the_scheduled_price(alpha_catalog, alpha):
    with inside(alpha):
        make_price(alpha_catalog.instance, "0.10", "minute")
        dec15, dec10 = datetime(2026, 12, 15, tzinfo=UTC), datetime(2026, 12, 10, tzinfo=UTC)
        _set("0.30", effective_from=dec15)
        later = datetime(2026, 11, 24, tzinfo=UTC)
        _set("0.40", effective_from=dec10, now=later)
        assert _rows() == [
            (EPOCH, dec10, Decimal("0.1"), False),
            (dec10, None, Decimal("0.4"), False),
            (dec15, None, Decimal("0.3"), True),  # kept for history, ignored by rating
        ]
        superseded = Price.objects.get(valid_from=dec15)
        assert superseded.superseded_at == later
        assert PriceChange.objects.order_by("changed_at")[1].previous_rate == Decimal("0.1")


def test_a_price_at_the_instant_of_a_scheduled_one_replaces_it(alpha_catalog, alpha):
    with inside(alpha):
        dec15 = datetime(2026, 12, 15, tzinfo=UTC)
        _set("0.30", effective_from=dec15)
        _set("0.35", effective_from=dec15)
        assert _rows() == [
            (dec15, None, Decimal("0.3"), True),
            (dec15, None, Decimal("0.35"), False),
        ]
        assert PriceChange.objects.order_by("id").last().previous_rate == Decimal("0.3")


def test_setting_the_same_price_twice_changes_nothing_the_second_time(alpha_catalog, alpha):
    with inside(alpha):
        first = _set("0.10", variant="4cpu-16gb")
        second = _set("0.10", variant="4cpu-16gb", now=datetime(2026, 11, 25, tzinfo=UTC))
        assert second.pk == first.pk
        assert Price.objects.count() == 1
        assert PriceChange.objects.count() == 1
        # A different rate is a change again.
        _set("0.11", variant="4cpu-16gb")
        assert Price.objects.filter(superseded_at__isnull=True).count() == 1
        assert PriceChange.objects.count() == 2


def test_keys_are_independent(alpha_catalog, alpha):
    with inside(alpha):
        _set("0.10")
        _set("0.12", region="mars")
        _set("0.05", service_class="spot")
        _set("0.50", metric_key="disk", variant="500gb", time_unit="hour")
        assert Price.objects.filter(superseded_at__isnull=True, valid_to__isnull=True).count() == 4
        assert not PriceChange.objects.exclude(previous_rate=None).exists()


def test_an_instant_inside_a_finalized_cycle_is_refused_and_nothing_is_written(
    alpha_catalog, alpha
):
    with inside(alpha):
        make_price(alpha_catalog.instance, "0.10", "minute")
        close_cycle(ALPHA_OCT_START, ALPHA_NOV_START, "2026-10")
        october = datetime(2026, 10, 15, tzinfo=UTC)
        with pytest.raises(CycleFinalized) as refused:
            _set("0.20", effective_from=october)
        assert refused.value.message_dict == {
            "effective_from": [CYCLE_FINALIZED.format(when=october.isoformat(), label="2026-10")]
        }
        # Before every recorded cycle, still before the finalized boundary.
        with pytest.raises(CycleFinalized) as refused:
            _set("0.20", effective_from=EPOCH)
        assert refused.value.message_dict["effective_from"] == [
            CYCLE_FINALIZED.format(when=EPOCH.isoformat(), label="2000-01")
        ]
        assert _rows() == [(EPOCH, None, Decimal("0.1"), False)]
        assert not PriceChange.objects.exists()
        # The boundary itself is the first instant that may change.
        assert _set("0.20", effective_from=ALPHA_NOV_START).valid_from == ALPHA_NOV_START


def test_the_implicit_cycle_start_may_not_fall_in_a_finalized_cycle(alpha_catalog, alpha):
    with inside(alpha):
        close_cycle(ALPHA_NOV_START, ALPHA_DEC_START, "2026-11")
        with pytest.raises(CycleFinalized) as refused:
            _set("0.20")
        assert refused.value.message_dict == {
            "effective_from": [
                CYCLE_FINALIZED.format(when=ALPHA_NOV_START.isoformat(), label="2026-11")
            ]
        }
        assert not Price.objects.exists()


def test_history_before_any_finalized_cycle_may_be_imported(alpha_catalog, alpha):
    with inside(alpha):
        price = _set("0.10", effective_from=datetime(2020, 1, 1, tzinfo=UTC))
        assert price.valid_from == datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("rate", ["0", "0.10000000000", "12345678.0123456789"])
def test_rates_up_to_ten_places_and_zero_are_accepted(alpha_catalog, alpha, rate):
    with inside(alpha):
        price = _set(rate)
        price.refresh_from_db()
        assert price.rate == Decimal(rate)


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"rate": Decimal("0.00000000001")}, {"rate": [RATE_TOO_PRECISE]}),
        ({"rate": Decimal("-0.01")}, {"rate": [RATE_NEGATIVE]}),
        ({"rate": Decimal("1e18")}, {"rate": [RATE_TOO_LARGE]}),
        ({"rate": 0.1}, {"rate": [RATE_NOT_DECIMAL]}),
        ({"rate": "0.1"}, {"rate": [RATE_NOT_DECIMAL]}),
        ({"time_unit": ""}, {"time_unit": [TIME_UNIT_REQUIRED.format(
            units="second, minute, hour, day")]}),
        ({"variant": "64cpu"}, {"variant": [VARIANT_UNKNOWN.format(metric="instance",
                                                                   variant="64cpu")]}),
        ({"variant": "500gb"}, {"variant": [VARIANT_UNKNOWN.format(metric="instance",
                                                                   variant="500gb")]}),
        ({"region": "pluto"}, {"region": [REGION_UNKNOWN.format(region="pluto")]}),
        ({"service_class": "gold"}, {"service_class": [SERVICE_CLASS_INVALID.format(
            classes="standard, spot")]}),
        ({"effective_from": datetime(2026, 12, 1)}, {"effective_from": [EFFECTIVE_FROM_NAIVE]}),
        ({"rate": Decimal("-1"), "region": "pluto"},
         {"rate": [RATE_NEGATIVE], "region": [REGION_UNKNOWN.format(region="pluto")]}),
    ],
)
def test_bad_input_is_refused_with_field_reasons_and_nothing_is_written(
    alpha_catalog, alpha, fields, errors
):
    arguments = {
        "metric_key": "instance", "rate": Decimal("0.1"), "time_unit": "minute",
        "effective_from": None, "now": NOW, "actor": None, "source": PriceChangeSource.API,
    }
    arguments.update(fields)
    with inside(alpha):
        with pytest.raises(ValidationError) as refused:
            price_set(**arguments)
        assert not isinstance(refused.value, CycleFinalized)
        assert refused.value.message_dict == errors
        assert not Price.objects.exists() and not PriceChange.objects.exists()


def test_an_unknown_resource_type_is_not_found(alpha_catalog, alpha):
    with inside(alpha), pytest.raises(ResourceTypeNotFound) as missing:
        _set("0.1", metric_key="gpu")
    assert missing.value.key == "gpu"


def test_a_usage_metric_takes_no_unit_of_time(alpha_catalog, alpha):
    with inside(alpha):
        Metric.objects.create(key="requests", name="Requests", aggregation=Aggregation.SUM)
        with pytest.raises(ValidationError) as refused:
            _set("0.001", metric_key="requests", time_unit="minute")
        assert refused.value.message_dict == {"time_unit": [TIME_UNIT_NOT_ALLOWED]}
        assert _set("0.001", metric_key="requests", time_unit="").time_unit == ""


def test_resource_types_variants_and_regions(alpha):
    with inside(alpha):
        gpu = resource_type_create(key="gpu", name="GPU", unit="gpu",
                                   variants=[("a100", "NVIDIA A100"), ("h100", "NVIDIA H100")])
        assert gpu.aggregation == Aggregation.DURATION
        assert list(gpu.variants.values_list("key", flat=True)) == ["a100", "h100"]
        with pytest.raises(ValidationError) as refused:
            resource_type_create(key="gpu", name="Again")
        assert refused.value.message_dict == {"key": [RESOURCE_TYPE_KEY_TAKEN.format(key="gpu")]}
        with pytest.raises(ValidationError) as refused:
            resource_type_create(key="Bad Key", name="", variants=[("x", "")])
        assert refused.value.message_dict == {
            "key": [KEY_INVALID], "name": ["a name is required"],
            "variants": [f"x: {VARIANT_DESCRIPTION_REQUIRED}"],
        }
        variant_add(metric_key="gpu", key="l4", description="NVIDIA L4")
        with pytest.raises(ValidationError) as refused:
            variant_add(metric_key="gpu", key="l4", description="again")
        assert refused.value.message_dict == {
            "key": [VARIANT_KEY_TAKEN.format(metric="gpu", key="l4")]
        }
        with pytest.raises(ResourceTypeNotFound):
            variant_add(metric_key="tpu", key="v5", description="TPU")
        region_create(key="mars", name="Mars")
        with pytest.raises(ValidationError) as refused:
            region_create(key="mars", name="Mars again")
        assert refused.value.message_dict == {"key": [REGION_KEY_TAKEN.format(key="mars")]}
        assert Variant.objects.filter(metric__key="gpu").count() == 3
