"""The entitlement check's fast path (no DRF serializer) answers exactly as the
serializers would: same validated input, same printed answer; anything else it
leaves to the serializer, so errors are unchanged."""

from decimal import Decimal

import pytest

from accounts.consumer_apis import (
    QuotaInputSerializer,
    QuotaOutputSerializer,
    quota_data,
    quota_input_fast,
    quota_payload,
)
from accounts.quota import QuotaAnswer

ACCEPTED = [
    {"project": "web", "feature": "dns.zones"},
    {"project": "p-1_0", "feature": "dns.zones", "quantity": "1"},
    {"project": "web", "feature": "x", "quantity": "007.50"},
    {"project": "web", "feature": "dns:zones-2", "quantity": "99999999999999999999.9999999999"},
    {"project": "web", "feature": "dns.zones", "quantity": 0},
    {"project": "web", "feature": "dns.zones", "quantity": 10**20 - 1},
    {"project": "web", "feature": "dns.zones", "quantity": Decimal("2.5")},
    {"project": "web", "feature": "dns.zones", "quantity": Decimal("0E-5")},
    {"project": "web", "feature": "f" * 100, "quantity": Decimal("0.0000000001")},
]

LEFT_TO_THE_SERIALIZER = [
    [],
    "web",
    {"project": "web"},
    {"feature": "dns.zones"},
    {"project": "web", "feature": "dns.zones", "extra": 1},
    {"project": " web", "feature": "dns.zones"},
    {"project": "web site", "feature": "dns.zones"},
    {"project": "", "feature": "dns.zones"},
    {"project": 7, "feature": "dns.zones"},
    {"project": "web", "feature": ""},
    {"project": "web", "feature": " dns.zones "},
    {"project": "web", "feature": "f" * 101},
    {"project": "web", "feature": "dns\x00zones"},
    {"project": "web", "feature": 12},
    {"project": "web", "feature": "dns.zones", "quantity": None},
    {"project": "web", "feature": "dns.zones", "quantity": True},
    {"project": "web", "feature": "dns.zones", "quantity": -1},
    {"project": "web", "feature": "dns.zones", "quantity": "-1"},
    {"project": "web", "feature": "dns.zones", "quantity": "1e3"},
    {"project": "web", "feature": "dns.zones", "quantity": " 1"},
    {"project": "web", "feature": "dns.zones", "quantity": "1.12345678901"},
    {"project": "web", "feature": "dns.zones", "quantity": "123456789012345678901"},
    {"project": "web", "feature": "dns.zones", "quantity": 10**20},
    {"project": "web", "feature": "dns.zones", "quantity": Decimal("-0")},
    {"project": "web", "feature": "dns.zones", "quantity": Decimal("NaN")},
    {"project": "web", "feature": "dns.zones", "quantity": Decimal("1E+3")},
    {"project": "web", "feature": "dns.zones", "quantity": Decimal("1E-11")},
    {"project": "web", "feature": "dns.zones", "quantity": 1.5},
]


@pytest.mark.parametrize("data", ACCEPTED)
def test_well_formed_input_gets_what_the_serializer_would_validate(data):
    serializer = QuotaInputSerializer(data=data)
    assert serializer.is_valid(), serializer.errors
    fast = quota_input_fast(data)
    assert fast == dict(serializer.validated_data)
    if "quantity" in fast:  # equal and printed alike (same exponent)
        assert str(fast["quantity"]) == str(serializer.validated_data["quantity"])


@pytest.mark.parametrize("data", LEFT_TO_THE_SERIALIZER)
def test_anything_else_is_left_to_the_serializer(data):
    assert quota_input_fast(data) is None


@pytest.mark.parametrize("answer", [
    QuotaAnswer(allowed=True, reason="allowed", message="ok", project="web",
                feature="dns.zones", kind="quota", limit=Decimal("1000.0000000000"),
                used=Decimal("1.5000000000"), remaining=Decimal("998.5"), reserved=None),
    QuotaAnswer(allowed=True, reason="allowed", message="ok", project="web",
                feature="dns.zones", kind="quota", limit=Decimal("1E+3"), used=Decimal("0"),
                remaining=Decimal("999.9999999999"), reserved=Decimal("2.0")),
    QuotaAnswer(allowed=False, reason="unknown_feature", message="no such feature",
                project="web", feature="nope", kind=None, limit=None, used=None,
                remaining=None, reserved=None),
])
def test_the_answer_is_printed_as_the_serializer_prints_it(answer):
    assert quota_payload(answer) == QuotaOutputSerializer(quota_data(answer)).data
