import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.domain.decimals import (
    ERR_NEGATIVE,
    ERR_NOT_DECIMAL,
    ERR_NOT_POSITIVE,
    ERR_RATE_PLACES,
)
from catalog.domain.pricing import (
    ERR_LAST_BOUNDED,
    ERR_MODEL_FIELDS,
    ERR_NO_TIERS,
    ERR_TIER_TYPE,
    ERR_TIERS_ORDER,
    ERR_UNBOUNDED_NOT_LAST,
    ChargeModel,
    Tier,
    UsagePrice,
    line_amount,
    price_flat,
    price_graduated,
    price_package,
    price_per_unit,
    price_usage,
    price_volume,
    prorate,
    validate_tiers,
)
from catalog.domain.time_units import TimeUnit, duration_units, exact_units
from core.money import ERR_FLOAT
from core.periods import Period, month_period


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


D = Decimal

# Time units


@pytest.mark.parametrize(
    ("unit", "value", "seconds"),
    [
        (TimeUnit.SECOND, "second", "1"),
        (TimeUnit.MINUTE, "minute", "60"),
        (TimeUnit.HOUR, "hour", "3600"),
        (TimeUnit.DAY, "day", "86400"),
    ],
)
def test_time_units(unit, value, seconds):
    assert TimeUnit(value) is unit
    assert unit.seconds == D(seconds)


@pytest.mark.parametrize(
    ("seconds", "unit", "units"),
    [
        (0, TimeUnit.MINUTE, "0"),
        (D("0.000001"), TimeUnit.SECOND, "1"),
        (1, TimeUnit.SECOND, "1"),
        (D("1.5"), TimeUnit.SECOND, "2"),
        (1, TimeUnit.MINUTE, "1"),
        (59, TimeUnit.MINUTE, "1"),
        (60, TimeUnit.MINUTE, "1"),
        (61, TimeUnit.MINUTE, "2"),
        (D("60.000001"), TimeUnit.MINUTE, "2"),
        (3600, TimeUnit.HOUR, "1"),
        (3601, TimeUnit.HOUR, "2"),
        (86400, TimeUnit.DAY, "1"),
        (86401, TimeUnit.DAY, "2"),
        (2678400, TimeUnit.SECOND, "2678400"),
        (2678400, TimeUnit.MINUTE, "44640"),
        (2678400, TimeUnit.HOUR, "744"),
        (2678400, TimeUnit.DAY, "31"),
        (2678399, TimeUnit.DAY, "31"),
        (D("2678400.000000"), TimeUnit.MINUTE, "44640"),
    ],
)
def test_duration_units_ceil(seconds, unit, units):
    result = duration_units(seconds=seconds, unit=unit)
    assert result == D(units)
    assert result == result.to_integral_value()


@pytest.mark.parametrize(
    ("seconds", "unit", "units"),
    [
        (0, TimeUnit.DAY, D("0")),
        (30, TimeUnit.MINUTE, D("0.5")),
        (19800, TimeUnit.MINUTE, D("330")),
        (90, TimeUnit.HOUR, D("0.025")),
        (43200, TimeUnit.DAY, D("0.5")),
        (1, TimeUnit.MINUTE, D(1) / D(60)),
        (D("1.5"), TimeUnit.SECOND, D("1.5")),
    ],
)
def test_exact_units_do_not_round_up(seconds, unit, units):
    assert exact_units(seconds=seconds, unit=unit) == units


@pytest.mark.parametrize(
    ("seconds", "message"),
    [(-1, ERR_NEGATIVE), (1.5, ERR_FLOAT), ("60", ERR_NOT_DECIMAL), (True, ERR_NOT_DECIMAL)],
)
@pytest.mark.parametrize("function", [duration_units, exact_units])
def test_units_refuse_bad_durations(function, seconds, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        function(seconds=seconds, unit=TimeUnit.MINUTE)


# Per unit


@pytest.mark.parametrize(
    ("quantity", "unit_price", "free", "billable", "amount", "usd"),
    [
        ("0", "0.10", "0", "0", "0", "0.00"),
        ("10", "0.10", "0", "10", "1.00", "1.00"),
        ("10", "0.10", "3", "7", "0.70", "0.70"),
        ("2", "0.10", "5", "0", "0", "0.00"),
        ("1000000", "0.0000012345", "0", "1000000", "1.2345", "1.23"),
        ("3", "0.3333333333", "0", "3", "0.9999999999", "1.00"),
        ("0.5", "0.01", "0", "0.5", "0.005", "0.01"),
    ],
)
def test_per_unit(quantity, unit_price, free, billable, amount, usd):
    charge = price_per_unit(quantity=D(quantity), unit_price=D(unit_price), free_units=D(free))
    assert charge.model is ChargeModel.PER_UNIT
    assert charge.quantity == D(quantity)
    assert charge.billable_quantity == D(billable)
    assert charge.amount == D(amount)
    assert str(charge.rounded("USD")) == usd
    [part] = charge.parts
    assert (part.quantity, part.unit_price, part.amount) == (D(billable), D(unit_price), D(amount))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantity": D(-1), "unit_price": D(1)}, ERR_NEGATIVE),
        ({"quantity": D(1), "unit_price": D(-1)}, ERR_NEGATIVE),
        ({"quantity": D(1), "unit_price": D(1), "free_units": D(-1)}, ERR_NEGATIVE),
        ({"quantity": 1.0, "unit_price": D(1)}, ERR_FLOAT),
        ({"quantity": D(1), "unit_price": 0.1}, ERR_FLOAT),
        ({"quantity": D(1), "unit_price": D("0.00000000001")}, ERR_RATE_PLACES),
        ({"quantity": D(1), "unit_price": D("NaN")}, "must be finite"),
    ],
)
def test_per_unit_refuses(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        price_per_unit(**kwargs)


def test_rate_with_trailing_zeros_beyond_ten_places_is_accepted():
    charge = price_per_unit(quantity=D(10), unit_price=D("0.100000000000000"))
    assert charge.amount == D("1")


# Package


@pytest.mark.parametrize(
    ("quantity", "size", "price", "free", "packages", "amount"),
    [
        ("0", "100", "5", "0", "0", "0"),
        ("1", "100", "5", "0", "1", "5"),
        ("99", "100", "5", "0", "1", "5"),
        ("100", "100", "5", "0", "1", "5"),
        ("101", "100", "5", "0", "2", "10"),
        ("250.5", "100", "5", "0", "3", "15"),
        ("150", "100", "5", "50", "1", "5"),
        ("151", "100", "5", "50", "2", "10"),
        ("30", "100", "5", "40", "0", "0"),
        ("1000000", "1000", "2.50", "0", "1000", "2500.00"),
        ("1", "0.5", "0.25", "0", "2", "0.50"),
    ],
)
def test_package(quantity, size, price, free, packages, amount):
    charge = price_package(
        quantity=D(quantity), package_size=D(size), package_price=D(price), free_units=D(free)
    )
    assert charge.model is ChargeModel.PACKAGE
    assert charge.amount == D(amount)
    [part] = charge.parts
    assert part.quantity == D(packages)
    assert part.unit_price == D(price)


@pytest.mark.parametrize("size", [D(0), D(-10)])
def test_package_size_must_be_positive(size):
    with pytest.raises(ValueError, match=ERR_NOT_POSITIVE):
        price_package(quantity=D(1), package_size=size, package_price=D(5))


# Tiers

TIERS = (
    Tier(up_to=D(100), unit_price=D("0.10"), flat_fee=D(5)),
    Tier(up_to=D(1000), unit_price=D("0.05"), flat_fee=D(10)),
    Tier(up_to=None, unit_price=D("0.01")),
)


@pytest.mark.parametrize(
    ("quantity", "free", "amount", "usd", "parts"),
    [
        # The first tier's flat fee is charged even at zero.
        ("0", "0", "5", "5.00", [(1, "0", "5")]),
        ("50", "0", "10", "10.00", [(1, "50", "10")]),
        # Exactly on a bound stays in the lower tier: tier 2 is not entered.
        ("100", "0", "15", "15.00", [(1, "100", "15")]),
        ("101", "0", "25.05", "25.05", [(1, "100", "15"), (2, "1", "10.05")]),
        ("100.5", "0", "25.025", "25.03", [(1, "100", "15"), (2, "0.5", "10.025")]),
        ("1000", "0", "70", "70.00", [(1, "100", "15"), (2, "900", "55")]),
        ("1001", "0", "70.01", "70.01", [(1, "100", "15"), (2, "900", "55"), (3, "1", "0.01")]),
        (
            "1000000",
            "0",
            "10060",
            "10060.00",
            [(1, "100", "15"), (2, "900", "55"), (3, "999000", "9990")],
        ),
        ("150", "50", "15", "15.00", [(1, "100", "15")]),
        ("20", "50", "5", "5.00", [(1, "0", "5")]),
    ],
)
def test_graduated(quantity, free, amount, usd, parts):
    charge = price_graduated(quantity=D(quantity), tiers=TIERS, free_units=D(free))
    assert charge.model is ChargeModel.GRADUATED
    assert charge.amount == D(amount)
    assert str(charge.rounded("USD")) == usd
    assert [(p.tier, p.quantity, p.amount) for p in charge.parts] == [
        (tier, D(q), D(a)) for tier, q, a in parts
    ]


def test_graduated_breakdown_names_the_tiers():
    charge = price_graduated(quantity=D(101), tiers=TIERS)
    first, second = charge.parts
    assert (first.up_to, first.unit_price, first.flat_fee) == (D(100), D("0.10"), D(5))
    assert (second.up_to, second.unit_price, second.flat_fee) == (D(1000), D("0.05"), D(10))


@pytest.mark.parametrize(
    ("quantity", "free", "tier", "amount", "usd"),
    [
        ("0", "0", 1, "5", "5.00"),  # zero falls in the first tier, flat fee included
        ("1", "0", 1, "5.10", "5.10"),
        ("100", "0", 1, "15", "15.00"),
        ("101", "0", 2, "15.05", "15.05"),
        ("100.5", "0", 2, "15.025", "15.03"),
        ("1000", "0", 2, "60", "60.00"),
        ("1001", "0", 3, "10.01", "10.01"),
        ("1000000", "0", 3, "10000", "10000.00"),
        ("1050", "50", 2, "60", "60.00"),
    ],
)
def test_volume(quantity, free, tier, amount, usd):
    charge = price_volume(quantity=D(quantity), tiers=TIERS, free_units=D(free))
    assert charge.model is ChargeModel.VOLUME
    assert charge.amount == D(amount)
    assert str(charge.rounded("USD")) == usd
    [part] = charge.parts
    assert part.tier == tier
    assert part.quantity == charge.billable_quantity
    assert part.unit_price == TIERS[tier - 1].unit_price
    assert part.flat_fee == TIERS[tier - 1].flat_fee


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], ERR_NO_TIERS),
        ([Tier(up_to=D(10), unit_price=D(1))], ERR_LAST_BOUNDED),
        (
            [Tier(up_to=None, unit_price=D(1)), Tier(up_to=None, unit_price=D(1))],
            ERR_UNBOUNDED_NOT_LAST,
        ),
        (
            [
                Tier(up_to=D(10), unit_price=D(1)),
                Tier(up_to=D(10), unit_price=D(1)),
                Tier(up_to=None, unit_price=D(1)),
            ],
            ERR_TIERS_ORDER,
        ),
        (
            [
                Tier(up_to=D(20), unit_price=D(1)),
                Tier(up_to=D(10), unit_price=D(1)),
                Tier(up_to=None, unit_price=D(1)),
            ],
            ERR_TIERS_ORDER,
        ),
        ([(D(10), D(1)), Tier(up_to=None, unit_price=D(1))], ERR_TIER_TYPE),
    ],
)
@pytest.mark.parametrize("function", [price_graduated, price_volume])
def test_tier_validation(function, tiers, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_tiers(tiers)
    with pytest.raises(ValueError, match=re.escape(message)):
        function(quantity=D(1), tiers=tiers)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"up_to": D(0), "unit_price": D(1)}, ERR_NOT_POSITIVE),
        ({"up_to": D(-5), "unit_price": D(1)}, ERR_NOT_POSITIVE),
        ({"up_to": D(10), "unit_price": D(-1)}, ERR_NEGATIVE),
        ({"up_to": D(10), "unit_price": D(1), "flat_fee": D(-1)}, ERR_NEGATIVE),
        ({"up_to": 10.0, "unit_price": D(1)}, ERR_FLOAT),
        ({"up_to": D(10), "unit_price": 0.5}, ERR_FLOAT),
        ({"up_to": D(10), "unit_price": D("1E-11")}, ERR_RATE_PLACES),
    ],
)
def test_tier_refuses(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Tier(**kwargs)


def test_tier_stores_decimals():
    tier = Tier(up_to=10, unit_price=1)
    assert isinstance(tier.up_to, Decimal)
    assert isinstance(tier.unit_price, Decimal)
    assert isinstance(tier.flat_fee, Decimal)


# Flat


def test_flat():
    charge = price_flat(fee=D("49.99"))
    assert charge.model is ChargeModel.FLAT
    assert charge.amount == D("49.99")
    [part] = charge.parts
    assert (part.quantity, part.unit_price) == (D(1), D("49.99"))


# One rating path


@pytest.mark.parametrize(
    ("price", "quantity", "free", "amount"),
    [
        (UsagePrice(model=ChargeModel.PER_UNIT, unit_price=D("0.10")), "10", "3", "0.70"),
        (
            UsagePrice(model=ChargeModel.PACKAGE, package_size=D(100), package_price=D(5)),
            "101",
            "0",
            "10",
        ),
        (UsagePrice(model=ChargeModel.GRADUATED, tiers=TIERS), "101", "0", "25.05"),
        (UsagePrice(model=ChargeModel.VOLUME, tiers=TIERS), "101", "0", "15.05"),
        (UsagePrice(model=ChargeModel.FLAT, fee=D(20)), "12345", "0", "20"),
    ],
)
def test_price_usage_dispatches_on_the_model(price, quantity, free, amount):
    charge = price_usage(price=price, quantity=D(quantity), free_units=D(free))
    assert charge.model is price.model
    assert charge.amount == D(amount)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": ChargeModel.PER_UNIT},
        {"model": ChargeModel.PER_UNIT, "unit_price": D(1), "fee": D(1)},
        {"model": ChargeModel.PACKAGE, "package_size": D(10)},
        {"model": ChargeModel.GRADUATED, "unit_price": D(1)},
        {"model": ChargeModel.FLAT, "tiers": TIERS},
    ],
)
def test_usage_price_refuses_fields_of_another_model(kwargs):
    with pytest.raises(ValueError, match=ERR_MODEL_FIELDS):
        UsagePrice(**kwargs)


# Rounding once, at the line


@pytest.mark.parametrize(
    ("quantity", "rate", "currency", "expected"),
    [
        ("669600", "0.10", "USD", "66960.00"),  # 15 instances x 44,640 minutes
        ("669600", "0.05", "USD", "33480.00"),  # 15 disks x 44,640 minutes
        ("-4950", "0.10", "USD", "-495.00"),  # the seed's credit, 15 x 330 minutes
        ("-4950", "0.05", "USD", "-247.50"),
        ("0.5", "0.01", "USD", "0.01"),
        ("3", "0.3333333333", "USD", "1.00"),
        ("1", "0.125", "USD", "0.13"),
        ("1", "0.125", "KWD", "0.125"),
        ("1", "1.5", "JPY", "2"),
        ("0", "0.10", "USD", "0.00"),
    ],
)
def test_line_amount(quantity, rate, currency, expected):
    result = line_amount(quantity=D(quantity), rate=D(rate), currency=currency)
    assert str(result) == expected


def test_rounding_once_differs_from_rounding_each_part():
    # 3 x 0.005 rounded once is 0.02; rounding each 0.005 first would give 0.03.
    assert line_amount(quantity=D(3), rate=D("0.005"), currency="USD") == D("0.02")


# Proration

OCTOBER = month_period(2020, 10, "UTC")


@pytest.mark.parametrize(
    ("active", "amount", "exact", "usd"),
    [
        (Period(start=utc(2020, 10, 1), end=utc(2020, 11, 1)), "31.00", "31", "31.00"),
        (Period(start=utc(2020, 9, 15), end=utc(2020, 12, 1)), "31.00", "31", "31.00"),
        # accepted mid-month: 16 of 31 days
        (Period(start=utc(2020, 10, 16), end=utc(2020, 11, 1)), "31.00", "16", "16.00"),
        (Period(start=utc(2020, 10, 16), end=utc(2021, 1, 1)), "10.00", None, "5.16"),
        # ended mid-month: 10 of 31 days
        (Period(start=utc(2020, 1, 1), end=utc(2020, 10, 11)), "10.00", None, "3.23"),
        (Period(start=utc(2020, 10, 10, 12), end=utc(2020, 10, 20, 12)), "31.00", "10", "10.00"),
        (Period(start=utc(2020, 10, 31, 23, 59, 59), end=utc(2020, 11, 1)), "2678400", "1", "1.00"),
        (Period(start=utc(2020, 11, 1), end=utc(2020, 12, 1)), "31.00", "0", "0.00"),
        (Period(start=utc(2020, 9, 1), end=utc(2020, 10, 1)), "31.00", "0", "0.00"),
    ],
)
def test_prorate(active, amount, exact, usd):
    result = prorate(amount=D(amount), active=active, cycle=OCTOBER)
    if exact is not None:
        assert result == D(exact)
    assert line_amount(quantity=result, rate=D(1), currency="USD") == D(usd)


def test_prorate_mid_month_is_unrounded():
    result = prorate(
        amount=D("10.00"),
        active=Period(start=utc(2020, 10, 16), end=utc(2020, 11, 1)),
        cycle=OCTOBER,
    )
    assert result == D("5.161290322580645161290322581")


def test_prorate_uses_elapsed_seconds_of_a_dst_month():
    # March 2026 in Berlin is 743 hours; its last local day is 24 of them.
    march = month_period(2026, 3, "Europe/Berlin")
    last_day = Period(start=utc(2026, 3, 30, 22), end=march.end)
    assert prorate(amount=D(743), active=last_day, cycle=march) == D(24)


def test_prorate_refuses_floats():
    with pytest.raises(ValueError, match=re.escape(ERR_FLOAT)):
        prorate(amount=10.0, active=OCTOBER, cycle=OCTOBER)
