import re
from decimal import Decimal, FloatOperation

import pytest

from core.money import (
    ERR_AMOUNT_TYPE,
    ERR_CURRENCY,
    ERR_FLOAT,
    ERR_NOT_A_NUMBER,
    ERR_NOT_FINITE,
    ERR_UNSUPPORTED_TYPE,
    RATE_PLACES,
    minor_unit,
    money_quantum,
    round_money,
    to_decimal,
)


def test_float_operations_are_trapped_in_domain_tests():
    with pytest.raises(FloatOperation):
        _ = Decimal("1") < 1.5


def test_rate_places():
    assert RATE_PLACES == 10


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("XYZ", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("VND", 0),
        ("CLP", 0),
        ("ISK", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("OMR", 3),
        ("JOD", 3),
        ("TND", 3),
    ],
)
def test_minor_unit(currency, places):
    assert minor_unit(currency) == places


@pytest.mark.parametrize("currency", ["usd", "US", "USDD", "", "U5D", None, 840])
def test_minor_unit_refuses_malformed_codes(currency):
    with pytest.raises(ValueError, match=re.escape(ERR_CURRENCY)):
        minor_unit(currency)


@pytest.mark.parametrize(
    ("currency", "quantum"),
    [("USD", "0.01"), ("JPY", "1"), ("KWD", "0.001")],
)
def test_money_quantum(currency, quantum):
    assert str(money_quantum(currency)) == str(Decimal(quantum))


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0", "USD", "0.00"),
        ("0.005", "USD", "0.01"),
        ("0.004999", "USD", "0.00"),
        ("2.665", "USD", "2.67"),  # HALF_EVEN would give 2.66
        ("0.125", "USD", "0.13"),  # HALF_EVEN would give 0.12
        ("-0.005", "USD", "-0.01"),
        ("-2.665", "USD", "-2.67"),
        ("-0.001", "USD", "0.00"),  # no negative zero on an invoice
        ("66960", "USD", "66960.00"),
        ("-515.625", "USD", "-515.63"),
        ("5.161290322580645161290322581", "USD", "5.16"),
        ("0.5", "JPY", "1"),
        ("2.5", "JPY", "3"),  # HALF_EVEN would give 2
        ("1234.4999", "KRW", "1234"),
        ("0.0005", "KWD", "0.001"),
        ("1.2345", "BHD", "1.235"),
        ("1.2344", "OMR", "1.234"),
    ],
)
def test_round_money(amount, currency, expected):
    result = round_money(Decimal(amount), currency)
    assert result == Decimal(expected)
    assert str(result) == expected


@pytest.mark.parametrize("amount", [1.5, 2, "2.00"])
def test_round_money_refuses_non_decimals(amount):
    with pytest.raises(ValueError, match=re.escape(ERR_AMOUNT_TYPE)):
        round_money(amount, "USD")


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_round_money_refuses_non_finite(amount):
    with pytest.raises(ValueError, match=re.escape(ERR_NOT_FINITE)):
        round_money(Decimal(amount), "USD")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.10", "1.10"),
        (" 2 ", "2"),
        ("-0.0000000001", "-1E-10"),
        ("1e3", "1E+3"),
        (7, "7"),
        (0, "0"),
        (Decimal("0.1"), "0.1"),
    ],
)
def test_to_decimal(value, expected):
    result = to_decimal(value)
    assert isinstance(result, Decimal)
    assert str(result) == expected


@pytest.mark.parametrize("value", [0.1, 1.0, float("nan")])
def test_to_decimal_refuses_floats(value):
    with pytest.raises(ValueError, match=re.escape(ERR_FLOAT)):
        to_decimal(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", ERR_NOT_A_NUMBER),
        ("", ERR_NOT_A_NUMBER),
        ("1,5", ERR_NOT_A_NUMBER),
        ("NaN", ERR_NOT_FINITE),
        ("Infinity", ERR_NOT_FINITE),
        (Decimal("NaN"), ERR_NOT_FINITE),
        (True, ERR_UNSUPPORTED_TYPE),
        (None, ERR_UNSUPPORTED_TYPE),
        ([1], ERR_UNSUPPORTED_TYPE),
    ],
)
def test_to_decimal_refuses_non_numbers(value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        to_decimal(value)
