"""Consumer charges, DB-free: each charge model at its edges through usage rating,
free units, package rounding, recurring proration in a DST month, one-time fees."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from catalog.domain.charges import ChargeFieldError, charge_spec
from core.money import round_money
from core.periods import Period, month_period
from invoicing.domain.usage import (
    UNENTITLED,
    UNPRICED_USAGE,
    EntitlementTerms,
    UsageAggregate,
    aggregate_quantity,
    fixed_fee_lines,
    forecast_usage_amount,
    usage_lines,
)

MARCH = month_period(2026, 3, "Europe/Berlin")  # 31 days minus the DST hour
WINDOW = Period(start=MARCH.start, end=MARCH.end)

TIERS = [{"up_to": "1000", "unit_price": "0", "flat_fee": "5"},
         {"up_to": "10000", "unit_price": "0.01"},
         {"up_to": None, "unit_price": "0.005", "flat_fee": "2"}]

CHARGES = {
    "per_unit": charge_spec(model="per_unit", name="Queries", metric="q", unit_price="0.0004"),
    "package": charge_spec(model="package", name="Queries", metric="q", package_size="100",
                           amount="1.50"),
    "graduated": charge_spec(model="graduated", name="Queries", metric="q", tiers=TIERS),
    "volume": charge_spec(model="volume", name="Queries", metric="q", tiers=TIERS),
    "flat": charge_spec(model="flat", name="Queries", metric="q", amount="9.99"),
    "free": charge_spec(model="per_unit", name="Queries", metric="q", unit_price="0.10",
                        free_units="100"),
}


def _lines(model: str, quantity: str):
    aggregate = UsageAggregate(billing_account_id=1, entitlement_id=7, metric="q",
                               aggregation="sum", project_ids=(3,), total=D(quantity), count=1)
    terms = {7: EntitlementTerms(entitlement_id=7, billing_account_id=1, label="Pro v2",
                                 start=MARCH.start, end=None, charges=(CHARGES[model],))}
    lines, unrated = usage_lines(aggregates=[aggregate], terms=terms, list_charges=None,
                                 window=WINDOW, metric_names={"q": "DNS queries"})
    assert unrated == []
    return lines


@pytest.mark.parametrize(("model", "quantity", "amount"), [
    ("per_unit", "0", "0.00"),
    ("per_unit", "1", "0.00"),  # 0.0004 rounds to 0.00 at the line
    ("per_unit", "12345678", "4938.27"),  # 4938.2712
    ("package", "0", "0.00"),
    ("package", "1", "1.50"),  # a started package is charged in full
    ("package", "100", "1.50"),  # exactly one package
    ("package", "101", "3.00"),  # just above: two
    ("package", "1000000", "15000.00"),
    ("graduated", "0", "5.00"),  # the first tier's flat fee even at zero
    ("graduated", "1000", "5.00"),  # exactly on the bound: still tier 1
    ("graduated", "1001", "5.01"),  # just above: 1 unit in tier 2
    ("graduated", "10000", "95.00"),  # 5 + 9000 x 0.01
    ("graduated", "10001", "97.01"),  # + tier 3's flat fee 2 + 0.005 (0.01 at its line)
    ("graduated", "1000000", "5047.00"),  # 5 + 90 + 2 + 990000 x 0.005
    ("volume", "0", "5.00"),
    ("volume", "1000", "5.00"),
    ("volume", "1001", "10.01"),  # all 1001 at 0.01
    ("volume", "10000", "100.00"),
    ("volume", "10001", "52.01"),  # all at 0.005 + 2: volume pricing drops at the bound
    ("flat", "0", "9.99"),
    ("flat", "5000000", "9.99"),
    ("free", "0", "0.00"),
    ("free", "100", "0.00"),  # exactly the free units
    ("free", "101", "0.10"),  # just above
    ("free", "100100", "10000.00"),
])
def test_each_charge_model_at_its_edges_as_lines_that_read_as_arithmetic(model, quantity,
                                                                          amount):
    lines = _lines(model, quantity)
    # Each line is rounded once; the charge is the sum of its lines.
    assert sum(round_money(line.amount, "EUR") for line in lines) == D(amount)
    for line in lines:
        assert line.amount == line.quantity * line.rate  # quantity x rate = amount
        assert line.kind == "usage" and line.project_id == 3
        assert line.details["offer"] == "Pro v2" and line.details["entitlement_id"] == 7
    assert lines[0].details["measured"] == quantity
    assert len({line.details["usage_group"] for line in lines}) == 1


def test_graduated_tiers_are_one_line_each_and_flat_fees_quantity_one():
    lines = _lines("graduated", "10001")
    assert [(line.description, line.quantity, line.rate, line.unit) for line in lines] == [
        ("DNS queries (Pro v2), tier 1 (up to 1,000)", D(1000), D(0), None),
        ("DNS queries (Pro v2), tier 1 (up to 1,000), flat fee", D(1), D(5), ""),
        ("DNS queries (Pro v2), tier 2 (up to 10,000)", D(9000), D("0.01"), None),
        ("DNS queries (Pro v2), tier 3 (and above)", D(1), D("0.005"), None),
        ("DNS queries (Pro v2), tier 3 (and above), flat fee", D(1), D(2), ""),
    ]
    assert lines[0].details["charge"]["tiers"][0] == {"up_to": "1000", "unit_price": "0",
                                                      "flat_fee": "5"}


def test_free_units_get_their_own_line_at_rate_zero():
    free, billable = _lines("free", "150")
    assert (free.description, free.quantity, free.rate, free.amount) == (
        "DNS queries (Pro v2), first 100 free", D(100), D(0), D(0))
    assert (billable.quantity, billable.rate, billable.amount) == (D(50), D("0.10"), D("5.00"))
    assert free.details["free_units"] == "100" and free.details["billable"] == "50"


def test_a_package_price_bills_packages():
    (line,) = _lines("package", "101")
    assert (line.quantity, line.rate, line.unit) == (D(2), D("1.50"), "package")
    assert line.description == "DNS queries (Pro v2), packages of 100"


@pytest.mark.parametrize(("aggregation", "expected"), [
    ("sum", D("12.5")), ("count", D(4)), ("max", D("7")), ("unique_count", D(2)),
    ("latest", D("3")),
])
def test_aggregations(aggregation, expected):
    assert aggregate_quantity(aggregation, total=D("12.5"), count=4, maximum=D("7"), unique=2,
                              latest=D("3")) == expected


def test_no_usage_of_a_level_metric_is_zero_and_duration_is_not_aggregated_here():
    assert aggregate_quantity("max", total=D(0), count=0, maximum=None, unique=0,
                              latest=None) == D(0)
    with pytest.raises(ValueError):
        aggregate_quantity("duration", total=D(0), count=0, maximum=None, unique=0, latest=None)


def test_unentitled_usage_is_reported_not_billed_and_chargeback_uses_list_charges():
    aggregate = UsageAggregate(billing_account_id=1, entitlement_id=None, metric="q",
                               aggregation="count", project_ids=(3,), count=10)
    lines, unrated = usage_lines(aggregates=[aggregate], terms={}, list_charges=None,
                                 window=WINDOW, metric_names={})
    assert lines == [] and unrated[0].reason == UNENTITLED and unrated[0].quantity == D(10)

    lines, unrated = usage_lines(aggregates=[aggregate], terms={},
                                 list_charges={"q": CHARGES["per_unit"]}, window=WINDOW,
                                 metric_names={})
    assert unrated == [] and lines[0].amount == D("0.0040")
    lines, unrated = usage_lines(aggregates=[aggregate], terms={}, list_charges={},
                                 window=WINDOW, metric_names={})
    assert lines == [] and unrated[0].reason == UNPRICED_USAGE


def berlin(*args) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


FEES = (charge_spec(model="recurring", name="Pro plan", amount="30.00"),
        charge_spec(model="one_time", name="Setup", amount="49.00"))


def test_recurring_fee_prorated_by_the_second_in_a_dst_month():
    # Accepted 10 March 12:00 CET, ended 30 March 12:00 CEST: 20 days less the DST hour,
    # over March's 743 hours in Berlin.
    assert MARCH.seconds == D(2674800)
    terms = EntitlementTerms(entitlement_id=1, billing_account_id=5, label="Pro v1",
                             start=berlin(2026, 3, 10, 12), end=berlin(2026, 3, 30, 12),
                             charges=FEES)
    recurring, one_time = sorted(fixed_fee_lines(terms=[terms], cycle=MARCH, until=MARCH.end),
                                 key=lambda line: line.kind, reverse=True)
    assert recurring.kind == "recurring"
    # The fraction of the month, 10 places, times the fee: the line reads as arithmetic.
    assert recurring.quantity == (D(1724400) / D(2674800)).quantize(D("1e-10"))
    assert recurring.amount == recurring.quantity * D(30)
    assert round_money(recurring.amount, "EUR") == D("19.34")
    assert recurring.details["proration"] == {
        "start": "2026-03-10T11:00:00Z", "end": "2026-03-30T10:00:00Z",
        "seconds": "1724400", "cycle_seconds": "2674800"}
    assert recurring.daily_rate == D(0)  # ended: nothing more to forecast
    assert one_time.kind == "one_time" and one_time.amount == D("49.00")


def test_a_whole_month_pays_the_full_fee_and_one_time_fees_bill_only_in_the_activation_cycle():
    april = month_period(2026, 4, "Europe/Berlin")
    terms = EntitlementTerms(entitlement_id=1, billing_account_id=5, label="Pro v1",
                             start=berlin(2026, 3, 10, 12), end=None, charges=FEES)
    (recurring,) = fixed_fee_lines(terms=[terms], cycle=april, until=april.end)
    assert recurring.amount == D("30.00") and recurring.quantity == D(1)


def test_an_open_cycle_bills_the_time_so_far_and_forecasts_at_the_daily_rate():
    terms = EntitlementTerms(entitlement_id=1, billing_account_id=5, label="Pro v1",
                             start=MARCH.start, end=None, charges=FEES[:1])
    until = berlin(2026, 3, 11)
    (recurring,) = fixed_fee_lines(terms=[terms], cycle=MARCH, until=until)
    assert recurring.amount == (D(864000) / D(2674800)).quantize(D("1e-10")) * D(30)
    assert recurring.daily_rate == D(30) * D(86400) / D(2674800)


def test_forecast_scales_flows_and_keeps_levels():
    half = Period(start=MARCH.start, end=MARCH.start + (MARCH.end - MARCH.start) / 2)
    spec = CHARGES["per_unit"]
    assert forecast_usage_amount(charge=spec, aggregation="sum", quantity=D(1000),
                                 elapsed=half, cycle=MARCH) == D("0.8000")
    assert forecast_usage_amount(charge=spec, aggregation="max", quantity=D(1000),
                                 elapsed=half, cycle=MARCH) == D("0.4000")


@pytest.mark.parametrize(("fields", "field"), [
    ({"model": "per_unit", "name": "x", "metric": "q"}, "unit_price"),
    ({"model": "package", "name": "x", "metric": "q", "amount": "1"}, "package_size"),
    ({"model": "package", "name": "x", "metric": "q", "amount": "1", "package_size": "0"},
     "package_size"),
    ({"model": "graduated", "name": "x", "metric": "q",
      "tiers": [{"up_to": "10", "unit_price": "1"}]}, "tiers"),
    ({"model": "graduated", "name": "x", "metric": "q",
      "tiers": [{"up_to": "10", "unit_price": "1"}, {"up_to": "5", "unit_price": "1"},
                {"up_to": None, "unit_price": "1"}]}, "tiers"),
    ({"model": "recurring", "name": "x", "amount": "1", "metric": "q"}, "metric"),
    ({"model": "per_unit", "name": "x", "unit_price": "1"}, "metric"),
    ({"model": "per_unit", "name": "x", "metric": "q", "unit_price": 0.5}, "unit_price"),
    ({"model": "per_unit", "name": "", "metric": "q", "unit_price": "1"}, "name"),
    ({"model": "bogus", "name": "x"}, "model"),
])
def test_charge_fields_are_checked_against_the_model(fields, field):
    with pytest.raises(ChargeFieldError) as error:
        charge_spec(**fields)
    assert field in error.value.errors


def test_switching_back_and_forth_in_a_cycle_charges_each_one_time_fee_once():
    # Pro on 10 March, Enterprise on 12 March, Pro again on 20 March (same charges).
    pro = dict(billing_account_id=5, label="Pro v1", charges=FEES)
    enterprise = charge_spec(model="one_time", name="Enterprise setup", amount="500.00")
    terms = [
        EntitlementTerms(entitlement_id=1, start=berlin(2026, 3, 10), end=berlin(2026, 3, 12),
                         **pro),
        EntitlementTerms(entitlement_id=2, billing_account_id=5, label="Enterprise v1",
                         start=berlin(2026, 3, 12), end=berlin(2026, 3, 20),
                         charges=(enterprise,)),
        EntitlementTerms(entitlement_id=3, start=berlin(2026, 3, 20), end=None, **pro),
    ]
    lines = fixed_fee_lines(terms=terms, cycle=MARCH, until=MARCH.end)
    one_time = [(line.description, line.amount) for line in lines if line.kind == "one_time"]
    assert one_time == [("Setup (Pro v1)", D("49.00")),
                        ("Enterprise setup (Enterprise v1)", D("500.00"))]
    recurring = [line for line in lines if line.kind == "recurring"]
    assert [round_money(line.amount, "EUR") for line in recurring] == [D("1.94"), D("11.59")]
    assert all(line.period.start < line.period.end for line in lines)


def test_a_switch_seconds_after_accepting_leaves_no_zero_length_or_zero_amount_line():
    start = berlin(2026, 3, 10, 12)
    terms = [
        EntitlementTerms(entitlement_id=1, billing_account_id=5, label="Pro v1",
                         start=start, end=start.replace(second=5), charges=FEES[:1]),
        EntitlementTerms(entitlement_id=2, billing_account_id=5, label="Pro v2",
                         start=start.replace(second=5), end=None, charges=FEES[:1]),
    ]
    lines = fixed_fee_lines(terms=terms, cycle=MARCH, until=berlin(2026, 3, 11),
                            currency="EUR")
    assert [line.label for line in lines] == ["Pro v2"]
    assert all(round_money(line.amount, "EUR") > 0 for line in lines)


def test_a_plan_accepted_a_minute_before_the_rating_has_no_line_yet():
    start = berlin(2026, 3, 10, 12)
    terms = [EntitlementTerms(entitlement_id=1, billing_account_id=5, label="Pro v1",
                              start=start, end=None, charges=FEES[:1])]
    assert fixed_fee_lines(terms=terms, cycle=MARCH, until=start.replace(minute=1),
                           currency="EUR") == []
    (line,) = fixed_fee_lines(terms=terms, cycle=MARCH, until=start.replace(minute=20),
                              currency="EUR")
    assert round_money(line.amount, "EUR") == D("0.01") and line.daily_rate > 0
