"""/api/v1/system/billing: reading and setting list prices, roles, isolation, no DELETE."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Role
from catalog.apis import FLEET_ADMIN_ONLY, PRICE_NOT_DELETABLE
from catalog.models import Price, PriceChange, PriceChangeSource
from catalog.services.list_prices import (
    RATE_NEGATIVE,
    RATE_TOO_PRECISE,
    REGION_UNKNOWN,
    TIME_UNIT_REQUIRED,
    VARIANT_UNKNOWN,
)
from cycles.guard import CYCLE_FINALIZED
from tests.catalog.conftest import (
    ALPHA_DEC_START,
    ALPHA_NOV_START,
    ALPHA_OCT_START,
    NOW,
    api_client,
    close_cycle,
    real_queries,
    user_with_role,
)
from tests.conftest import host_client, inside
from tests.factories import EPOCH, make_price

BILLING = "/api/v1/system/billing"
DEC5 = datetime(2026, 12, 5, tzinfo=UTC)


@pytest.fixture
def alpha_prices(alpha_catalog, alpha):
    with inside(alpha):
        instance, disk = alpha_catalog.instance, alpha_catalog.disk
        closed = make_price(instance, "0.05", "minute", valid_to=ALPHA_NOV_START)
        current = make_price(instance, "0.10", "minute", variant="4cpu-16gb", region="mars",
                             valid_from=ALPHA_NOV_START, valid_to=DEC5)
        scheduled = make_price(instance, "0.12", "minute", variant="4cpu-16gb", region="mars",
                               valid_from=DEC5)
        disk_price = make_price(disk, "0.0000115740", "second", service_class="spot")
    return {"closed": closed, "current": current, "scheduled": scheduled, "disk": disk_price}


def _item(price, *, resource_type, name, variant=None, description=None, region=None,
          service_class=None, rate, unit, valid_from, valid_to=None, scheduled=False,
          currency="EUR"):
    return {
        "id": price.pk, "resource_type": resource_type, "resource_type_name": name,
        "variant": variant, "variant_description": description, "region": region,
        "service_class": service_class, "rate": rate, "unit": unit, "currency": currency,
        "valid_from": valid_from, "valid_to": valid_to, "scheduled": scheduled,
    }


def test_fleet_admin_reads_every_current_and_scheduled_price(alpha_prices, alpha, frozen_now):
    response = api_client(alpha, "alice").get(BILLING)
    assert response.status_code == 200
    assert response.json() == {
        "currency": "EUR",
        "prices": [
            _item(alpha_prices["disk"], resource_type="disk", name="Disk",
                  service_class="spot", rate="0.000011574", unit="second",
                  valid_from="2000-01-01T00:00:00Z"),
            _item(alpha_prices["current"], resource_type="instance", name="Instance",
                  variant="4cpu-16gb", description="4 CPU, 16 GB Memory", region="mars",
                  rate="0.1", unit="minute", valid_from="2026-10-31T11:00:00Z",
                  valid_to="2026-12-05T00:00:00Z"),
            _item(alpha_prices["scheduled"], resource_type="instance", name="Instance",
                  variant="4cpu-16gb", description="4 CPU, 16 GB Memory", region="mars",
                  rate="0.12", unit="minute", valid_from="2026-12-05T00:00:00Z",
                  scheduled=True),
        ],
    }


def test_one_resource_type_and_an_unknown_one(alpha_prices, alpha, frozen_now):
    client = api_client(alpha, "alice")
    response = client.get(f"{BILLING}/instance")
    assert response.status_code == 200
    body = response.json()
    assert [(p["id"], p["scheduled"]) for p in body["prices"]] == [
        (alpha_prices["current"].pk, False), (alpha_prices["scheduled"].pk, True),
    ]
    missing = client.get(f"{BILLING}/gpu")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"status": 404, "code": "not_found", "message": "no resource type 'gpu'"}
    }


def test_put_sets_the_price_from_the_start_of_the_cycle(alpha_prices, alpha, frozen_now):
    client = api_client(alpha, "alice")
    body = {"variant": "4cpu-16gb", "region": "mars", "rate": "0.15", "unit": "minute"}
    response = client.put(f"{BILLING}/instance", body, content_type="application/json")
    assert response.status_code == 200, response.json()
    with inside(alpha):
        new = Price.objects.get(rate=Decimal("0.15"))
        change = PriceChange.objects.get()
        # The price in force since the cycle start is superseded; the scheduled one too.
        assert Price.objects.get(pk=alpha_prices["current"].pk).superseded_at == NOW
        assert Price.objects.get(pk=alpha_prices["scheduled"].pk).superseded_at == NOW
    assert response.json() == {
        "price": _item(new, resource_type="instance", name="Instance", variant="4cpu-16gb",
                       description="4 CPU, 16 GB Memory", region="mars", rate="0.15",
                       unit="minute", valid_from="2026-10-31T11:00:00Z"),
        "change": {
            "id": change.pk, "price_id": new.pk, "resource_type": "instance",
            "variant": "4cpu-16gb", "region": "mars", "service_class": None,
            "previous_rate": "0.1", "rate": "0.15", "unit": "minute",
            "effective_from": "2026-10-31T11:00:00Z", "changed_at": "2026-11-23T12:00:00Z",
            "changed_by": "alice", "source": "api",
        },
    }
    # PUT is idempotent: the same body again changes nothing.
    again = client.put(f"{BILLING}/instance", body, content_type="application/json")
    assert again.status_code == 200
    assert again.json()["price"]["id"] == new.pk
    with inside(alpha):
        assert PriceChange.objects.count() == 1
        assert Price.objects.count() == 5


def test_put_with_an_instant_schedules_and_a_json_number_rate_is_exact(
    alpha_catalog, alpha, frozen_now
):
    client = api_client(alpha, "alice")
    response = client.put(
        f"{BILLING}/disk",
        '{"rate": 0.1000000001, "unit": "hour", "service_class": null,'
        ' "effective_from": "2026-12-01T00:00:00+13:00"}',
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    price = response.json()["price"]
    assert price["rate"] == "0.1000000001"
    assert price["valid_from"] == "2026-11-30T11:00:00Z"
    assert price["scheduled"] is True
    assert price["service_class"] is None and price["variant"] is None
    with inside(alpha):
        row = Price.objects.get(pk=price["id"])
        assert row.rate == Decimal("0.1000000001")
        assert row.valid_from == ALPHA_DEC_START
        assert row.created_by.username == "alice"
        assert PriceChange.objects.get(price=row).source == PriceChangeSource.API


def test_a_rate_of_zero_is_allowed(alpha_catalog, alpha, frozen_now):
    response = api_client(alpha, "alice").put(
        f"{BILLING}/instance", {"rate": "0", "unit": "day"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["price"]["rate"] == "0"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"rate": "-0.01", "unit": "minute"}, {"rate": [RATE_NEGATIVE]}),
        ({"rate": "0.00000000001", "unit": "minute"}, {"rate": [RATE_TOO_PRECISE]}),
        ({"rate": "ten", "unit": "minute"}, {"rate": [
            "must be a decimal number, as a string (\"0.10\") or a JSON number"]}),
        ({"rate": True, "unit": "minute"}, {"rate": [
            "must be a decimal number, as a string (\"0.10\") or a JSON number"]}),
        ({"rate": "0.1"}, {"unit": [TIME_UNIT_REQUIRED.format(
            units="second, minute, hour, day")]}),
        ({"rate": "0.1", "unit": "week"}, {"unit": ['"week" is not a valid choice.']}),
        ({"rate": "0.1", "unit": "minute", "variant": "64cpu", "region": "pluto"},
         {"variant": [VARIANT_UNKNOWN.format(metric="instance", variant="64cpu")],
          "region": [REGION_UNKNOWN.format(region="pluto")]}),
        ({"rate": "0.1", "unit": "minute", "effective_from": "2026-12-01T00:00:00"},
         {"effective_from": ["must carry a UTC offset (e.g. 2026-03-01T00:00:00Z)"]}),
        ({"rate": "0.1", "unit": "minute", "effective_from": "next tuesday"},
         {"effective_from": ["must be an ISO-8601 date and time with a UTC offset"]}),
    ],
)
def test_bad_input_is_400_with_field_reasons(alpha_catalog, alpha, frozen_now, body, fields):
    response = api_client(alpha, "alice").put(
        f"{BILLING}/instance", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"error": {
        "status": 400, "code": "invalid", "message": "The request has invalid fields.",
        "fields": fields,
    }}
    with inside(alpha):
        assert not Price.objects.exists()


def test_malformed_json_is_400(alpha_catalog, alpha):
    response = api_client(alpha, "alice").put(
        f"{BILLING}/instance", '{"rate": NaN, "unit": "minute"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_an_instant_in_a_finalized_cycle_is_409(alpha_catalog, alpha, frozen_now):
    with inside(alpha):
        close_cycle(ALPHA_OCT_START, ALPHA_NOV_START, "2026-10")
    response = api_client(alpha, "alice").put(
        f"{BILLING}/instance",
        {"rate": "0.2", "unit": "minute", "effective_from": "2026-10-15T00:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == 409
    message = CYCLE_FINALIZED.format(when="2026-10-15T00:00:00+00:00", label="2026-10")
    assert response.json() == {"error": {
        "status": 409, "code": "cycle_finalized", "message": message, "cycle": "2026-10",
        "fields": {"effective_from": [message]},
    }}
    with inside(alpha):
        assert not Price.objects.exists()


def test_put_on_an_unknown_type_is_404(alpha_catalog, alpha):
    response = api_client(alpha, "alice").put(
        f"{BILLING}/gpu", {"rate": "1", "unit": "hour"}, content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no resource type 'gpu'"


@pytest.mark.parametrize("path", [BILLING, f"{BILLING}/instance"])
def test_delete_is_405_with_the_reason_and_allow(alpha_prices, alpha, path):
    response = api_client(alpha, "alice").delete(path)
    assert response.status_code == 405
    assert response.json() == {"error": {
        "status": 405, "code": "method_not_allowed", "message": PRICE_NOT_DELETABLE,
    }}
    assert "DELETE" not in response["Allow"]
    assert "GET" in response["Allow"]
    with inside(alpha):
        assert Price.objects.count() == 4


def test_history_is_paginated_newest_first(alpha_catalog, alpha, frozen_now):
    client = api_client(alpha, "alice")
    for rate in ("0.1", "0.2", "0.3"):
        assert client.put(f"{BILLING}/instance", {"rate": rate, "unit": "minute"},
                          content_type="application/json").status_code == 200
    response = client.get(f"{BILLING}/instance/history?page_size=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [(c["previous_rate"], c["rate"], c["changed_by"]) for c in body["results"]] == [
        ("0.2", "0.3", "alice"), ("0.1", "0.2", "alice"),
    ]
    assert body["next"].endswith("page=2&page_size=2")
    second = client.get(body["next"].split("testserver")[-1]).json()
    assert [(c["previous_rate"], c["rate"]) for c in second["results"]] == [(None, "0.1")]
    assert client.get(f"{BILLING}/disk/history").json()["count"] == 0
    assert client.get(f"{BILLING}/gpu/history").status_code == 404


def test_a_fleet_viewer_reads_but_may_not_set(alpha_prices, alpha, frozen_now):
    user_with_role(alpha, "vera", Role.FLEET_VIEWER)
    client = api_client(alpha, "vera")
    assert client.get(BILLING).status_code == 200
    assert client.get(f"{BILLING}/instance/history").status_code == 200
    response = client.put(f"{BILLING}/instance", {"rate": "0", "unit": "minute"},
                          content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == FLEET_ADMIN_ONLY
    with inside(alpha):
        assert Price.objects.count() == 4


def test_a_granted_fleet_admin_sets_prices(alpha_catalog, alpha, frozen_now):
    user_with_role(alpha, "fred", Role.FLEET_ADMIN)
    response = api_client(alpha, "fred").put(
        f"{BILLING}/instance", {"rate": "0.3", "unit": "minute"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["change"]["changed_by"] == "fred"


@pytest.mark.parametrize(
    "role", [Role.ORG_ADMIN, Role.ORG_BILLING_VIEWER, Role.PROJECT_BILLING_VIEWER, None]
)
def test_everyone_else_gets_404_on_system(alpha_prices, alpha, role):
    user_with_role(alpha, "olga", role)
    client = api_client(alpha, "olga")
    for response in (
        client.get(BILLING),
        client.get(f"{BILLING}/instance"),
        client.get(f"{BILLING}/instance/history"),
        client.put(f"{BILLING}/instance", {"rate": "0", "unit": "minute"},
                   content_type="application/json"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["status"] == 404
    with inside(alpha):
        assert Price.objects.count() == 4


def test_anonymous_callers_are_401(alpha_prices, alpha):
    response = host_client(alpha).get(BILLING)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


def test_a_signed_in_admin_session_works_too(alpha_prices, alpha, frozen_now):
    from tests.conftest import sign_in

    client = host_client(alpha)
    assert sign_in(client, "alice")
    assert len(client.get(BILLING).json()["prices"]) == 3


def test_providers_never_see_each_others_prices(alpha_prices, alpha, beta, frozen_now):
    alpha_client = api_client(alpha, "alice")
    beta_client = api_client(beta, "bob")
    assert beta_client.get(BILLING).json() == {"currency": "USD", "prices": []}
    # Beta has no resource types of its own here.
    assert beta_client.get(f"{BILLING}/instance").status_code == 404
    # Alpha's key means nothing on beta's host.
    alpha_key = alpha_client.defaults["HTTP_AUTHORIZATION"]
    refused = host_client(beta).get(BILLING, HTTP_AUTHORIZATION=alpha_key)
    assert refused.status_code == 401
    refused = host_client(beta).put(f"{BILLING}/instance", {"rate": "0", "unit": "minute"},
                                    content_type="application/json",
                                    HTTP_AUTHORIZATION=alpha_key)
    assert refused.status_code == 401
    with inside(beta):
        assert not Price.objects.exists()


def test_listing_many_prices_takes_a_bounded_number_of_queries(
    alpha_catalog, alpha, frozen_now, django_assert_max_num_queries
):
    with inside(alpha):
        for index in range(60):
            make_price(alpha_catalog.instance if index % 2 else alpha_catalog.disk,
                       f"0.{index + 1:02d}", "minute",
                       variant=("8cpu-32gb" if index % 2 else "500gb"),
                       region=f"r{index:02d}", service_class=("", "spot")[index % 2],
                       valid_from=EPOCH if index < 30 else DEC5)
    client = api_client(alpha, "alice")
    # Domain lookup, API key, last_used_at, role grants, one prices query (django-tenants
    # adds a SET search_path before each tenant query): independent of the number of prices.
    with django_assert_max_num_queries(10), real_queries(at_most=5):
        response = client.get(BILLING)
    assert response.status_code == 200
    assert len(response.json()["prices"]) == 60


def test_the_schema_documents_the_billing_endpoints(alpha):
    from tests.conftest import sign_in

    client = host_client(alpha)
    assert sign_in(client, "alice")
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    one_type = paths["/api/v1/system/billing/{resource_type}"]
    assert "get" in one_type and "put" in one_type and "delete" not in one_type
    assert "delete" not in paths["/api/v1/system/billing"]
    assert "/api/v1/system/billing/{resource_type}/history" in paths
