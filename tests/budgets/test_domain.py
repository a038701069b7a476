"""Pure budget rules: thresholds crossed, percent used, signatures, backoff. No database."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from budgets.domain import normalize_thresholds, percent_used, thresholds_crossed
from core.retries import backoff_seconds
from notifications.signing import secret_generate, standard_secret, webhook_headers


@pytest.mark.parametrize(
    ("spend", "amount", "thresholds", "crossed"),
    [
        ("0", "2500.00", [50, 80, 100], []),
        ("1249.99", "2500.00", [50, 80, 100], []),
        ("1250.00", "2500.00", [50, 80, 100], [50]),  # exactly at the threshold counts
        ("2160.00", "2500.00", [50, 80, 100], [50, 80]),
        ("2499.99", "2500.00", [100, 80, 50], [50, 80]),
        ("2500.00", "2500.00", [50, 80, 100], [50, 80, 100]),
        ("9000.00", "2500.00", [50, 120, 200, 400], [50, 120, 200]),
        ("-10.00", "2500.00", [50], []),  # credits can make spend negative
        ("33.33", "100.00", [33], [33]),
        ("33.32", "99.99", [33], [33]),  # 99.99 * 0.33 = 32.9967
        ("32.99", "99.99", [33], []),
        ("100.00", "0.00", [50], []),
    ],
)
def test_thresholds_crossed(spend, amount, thresholds, crossed):
    assert thresholds_crossed(spend=Decimal(spend), amount=Decimal(amount),
                              thresholds=thresholds) == crossed


def test_thresholds_crossed_refuses_floats():
    with pytest.raises(TypeError):
        thresholds_crossed(spend=2160.0, amount=Decimal("2500"), thresholds=[50])


@pytest.mark.parametrize(
    ("spend", "amount", "percent"),
    [("2160.00", "2500.00", "86.4"), ("1.00", "3.00", "33.3"), ("2.00", "3.00", "66.7"),
     ("0.05", "1000.00", "0.0"), ("0.50", "1000.00", "0.1"), ("3000.00", "2500.00", "120.0")],
)
def test_percent_used_rounds_half_up_to_one_place(spend, amount, percent):
    assert percent_used(spend=Decimal(spend), amount=Decimal(amount)) == Decimal(percent)


@pytest.mark.parametrize(
    ("given", "expected"),
    [([100, 50, 80, 50], [50, 80, 100]), ([1], [1]), ([1000], [1000])],
)
def test_normalize_thresholds(given, expected):
    assert normalize_thresholds(given) == expected


@pytest.mark.parametrize("bad", [[0], [1001], [-5], [True], ["50"], [50.0]])
def test_normalize_thresholds_refuses(bad):
    with pytest.raises(ValueError):
        normalize_thresholds(bad)


def test_the_signature_is_standard_webhooks_hmac_sha256_of_id_timestamp_and_body():
    body = '{"threshold":80}'
    at = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    headers = webhook_headers(secret="s3cret-s3cret-s3cret", message_id="budget:1:2026-12:80",
                              body=body, at=at)
    signed = f"budget:1:2026-12:80.{int(at.timestamp())}.{body}".encode()
    expected = base64.b64encode(
        hmac.new(b"s3cret-s3cret-s3cret", signed, hashlib.sha256).digest()).decode()
    assert headers == {"webhook-id": "budget:1:2026-12:80",
                       "webhook-timestamp": str(int(at.timestamp())),
                       "webhook-signature": f"v1,{expected}"}
    assert standard_secret("s3cret-s3cret-s3cret") == "whsec_" + base64.b64encode(
        b"s3cret-s3cret-s3cret").decode()
    generated = secret_generate()
    assert generated.startswith("whsec_") and len(base64.b64decode(generated[6:])) == 24
    assert standard_secret(generated) == generated


@pytest.mark.parametrize(("attempts", "seconds"),
                         [(1, 30), (2, 60), (3, 120), (6, 960), (8, 3600), (20, 3600)])
def test_backoff_doubles_up_to_its_cap(attempts, seconds):
    assert backoff_seconds(attempts=attempts, base=30, cap=3600) == seconds
