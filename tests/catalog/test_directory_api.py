"""The catalog's directory and offers through the API: created, changed, guarded by the
roles, audited; unique counts rated; offers versioned once accepted."""

from datetime import UTC, datetime
from decimal import Decimal

from accounts.models import Entitlement, Role, RoleGrant
from catalog.models import MetricPolicy, Offer, OfferVersion, Region, Variant
from catalog.services.directory import AGGREGATION_FIXED
from catalog.services.metrics import UNIQUE_NEEDS_ATTRIBUTE
from invoicing.jobs import rate_open_cycles
from invoicing.models import InvoiceLine
from tests.accounts.support import Api
from tests.audit.support import actor_of, events_of
from tests.catalog.conftest import user_with_role
from tests.conftest import inside
from tests.offers_world import make_consumer, sells_offers

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def test_resource_types_regions_classes_and_dependencies(beta):
    api = Api(beta, "bob")
    _ok(api.post("/api/v1/catalog/regions", {"key": "mars", "name": "Mars"}), 201)
    body = _ok(api.post("/api/v1/catalog/resource-types", {
        "key": "instance", "name": "Instance", "unit": "instance",
        "variants": [{"key": "4cpu-16gb", "description": "4 CPU, 16 GB Memory"}]}), 201)
    assert body["variants"] == [{"key": "4cpu-16gb", "description": "4 CPU, 16 GB Memory"}]
    _ok(api.post("/api/v1/catalog/resource-types", {"key": "disk", "name": "Disk"}), 201)
    _ok(api.post("/api/v1/catalog/resource-types/disk/variants",
                 {"key": "500gb", "description": "500 GB"}), 201)
    changed = _ok(api.client.patch("/api/v1/catalog/resource-types/instance",
                                   {"name": "Virtual machine"}, content_type="application/json",
                                   **api.headers))
    assert changed["name"] == "Virtual machine" and len(changed["variants"]) == 1
    dependency = _ok(api.post("/api/v1/catalog/dependencies",
                              {"resource_type": "disk", "depends_on": "instance"}))
    assert dependency == {"resource_type": "disk", "depends_on": "instance",
                          "credit_cascades": True}
    assert _ok(api.get("/api/v1/catalog/dependencies")) == [dependency]
    itself = api.post("/api/v1/catalog/dependencies",
                      {"resource_type": "disk", "depends_on": "disk"})
    assert "depends_on" in itself.json()["error"]["fields"]
    assert [c["key"] for c in _ok(api.get("/api/v1/catalog/service-classes"))] == [
        "standard", "spot"]
    # A price on what the API made, through the existing price endpoint.
    _ok(api.put("/api/v1/system/billing/instance",
                {"variant": "4cpu-16gb", "region": "mars", "rate": "0.1", "unit": "minute"}))
    assert api.delete("/api/v1/catalog/dependencies/disk/instance").status_code == 204
    taken = api.post("/api/v1/catalog/regions", {"key": "mars", "name": "Mars again"})
    assert taken.status_code == 400 and "key" in taken.json()["error"]["fields"]
    with inside(beta):
        mars = Region.objects.get(key="mars")
        assert [e.pgh_label for e in events_of(Region, mars.pk)] == ["insert"]
        assert actor_of(events_of(Region, mars.pk)[0]) == "bob"
        disk = Variant.objects.get(key="500gb")
        assert [e.pgh_label for e in events_of(Variant, disk.pk)] == ["insert"]


def test_metrics_name_the_attribute_a_unique_count_counts(beta):
    api = Api(beta, "bob")
    _ok(api.post("/api/v1/catalog/services", {"key": "auth", "name": "Auth"}), 201)
    missing = api.post("/api/v1/catalog/metrics", {
        "key": "auth.users", "name": "Active users", "aggregation": "unique_count",
        "service": "auth"})
    assert missing.json()["error"]["fields"]["unique_attribute"] == [UNIQUE_NEEDS_ATTRIBUTE]
    body = _ok(api.post("/api/v1/catalog/metrics", {
        "key": "auth.users", "name": "Active users", "aggregation": "unique_count",
        "unique_attribute": "user_id", "service": "auth", "unit": "user"}), 201)
    assert body["unique_attribute"] == "user_id"
    for aggregation in ("sum", "max", "latest", "count"):
        _ok(api.post("/api/v1/catalog/metrics", {
            "key": f"m.{aggregation}", "name": aggregation, "aggregation": aggregation}), 201)
    refused = api.client.patch("/api/v1/catalog/metrics/auth.users", {"aggregation": "sum"},
                               content_type="application/json", **api.headers)
    assert refused.json()["error"]["fields"]["aggregation"] == [AGGREGATION_FIXED]
    with inside(beta):
        assert MetricPolicy.objects.get(metric__key="auth.users").unique_attribute == "user_id"


def test_viewers_read_the_catalog_outsiders_do_not_see_it(beta):
    user_with_role(beta, "vera", Role.FLEET_VIEWER)
    user_with_role(beta, "olga", Role.ORG_ADMIN)
    viewer, outsider = Api(beta, "vera"), Api(beta, "olga")
    assert viewer.get("/api/v1/catalog/regions").status_code == 200
    assert viewer.post("/api/v1/catalog/regions", {"key": "x", "name": "X"}).status_code == 403
    assert outsider.get("/api/v1/catalog/regions").status_code == 404
    assert outsider.post("/api/v1/catalog/regions", {"key": "x", "name": "X"}).status_code == 404


def _datum_directory(api: Api) -> None:
    _ok(api.post("/api/v1/catalog/services", {"key": "auth", "name": "Auth"}), 201)
    _ok(api.post("/api/v1/catalog/metrics", {
        "key": "auth.users", "name": "Active users", "aggregation": "unique_count",
        "unique_attribute": "user_id", "service": "auth", "unit": "user"}), 201)


def test_unique_count_bills_each_distinct_attribute_value_once(beta):
    """1,000 events over 37 distinct user_ids bill 37 units at the offer's rate."""
    sells_offers(beta)
    api = Api(beta, "bob")
    _datum_directory(api)
    _ok(api.post("/api/v1/offers", {
        "key": "team", "name": "Team", "services": ["auth"],
        "charges": [{"model": "per_unit", "name": "Active users", "metric": "auth.users",
                     "unit_price": "0.75"}]}), 201)
    with inside(beta):
        consumer = make_consumer("acme")
    _ok(api.post(f"/api/v1/billing-accounts/{consumer.account.pk}/entitlements",
                 {"offer": "team", "accepted_at": "2026-11-01T00:00:00Z"}), 201)
    events = [{"event_id": f"login-{i}", "metric": "auth.users", "project": "acme-web",
               "occurred_at": f"2026-11-{1 + i % 19:02d}T10:{i % 60:02d}:00Z", "value": "1",
               "attributes": {"user_id": f"user-{i % 37}"}} for i in range(1000)]
    _ok(api.post("/api/v1/usage/events", {"events": events}), 200)
    with inside(beta):
        rate_open_cycles(now=NOW)
        line = InvoiceLine.objects.get(metric_key="auth.users")
    assert (line.quantity, line.rate, line.amount) == (Decimal(37), Decimal("0.75"),
                                                       Decimal("27.75"))


def test_editing_an_accepted_offer_makes_a_new_version_entitlements_stay(beta):
    sells_offers(beta)
    api = Api(beta, "bob")
    _datum_directory(api)
    tiers = [{"up_to": "10", "unit_price": "1"}, {"up_to": None, "unit_price": "0.5"}]
    offer = {"name": "Team", "services": ["auth"], "public": False,
             "charges": [{"model": "graduated", "name": "Users", "metric": "auth.users",
                          "tiers": tiers},
                         {"model": "recurring", "name": "Team plan", "amount": "20"}]}
    created = _ok(api.post("/api/v1/offers", {"key": "team", **offer}), 201)
    assert created["version"] == 1 and created["charges"][0]["tiers"][1]["up_to"] is None
    # Not accepted yet: edited in place.
    offer["charges"][1]["amount"] = "25"
    assert _ok(api.put("/api/v1/offers/team", offer))["version"] == 1
    with inside(beta):
        consumer = make_consumer("acme")
    _ok(api.post(f"/api/v1/billing-accounts/{consumer.account.pk}/entitlements",
                 {"offer": "team"}), 201)
    offer["charges"][0]["tiers"][1]["unit_price"] = "0.4"
    revised = _ok(api.put("/api/v1/offers/team", {**offer, "notes": "cheaper seats"}))
    assert (revised["version"], revised["new_version"]) == (2, True)
    again = _ok(api.put("/api/v1/offers/team", offer))
    assert (again["version"], again["new_version"]) == (2, False)
    versions = _ok(api.get("/api/v1/offers/team/versions"))
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["charges"][0]["tiers"][1]["unit_price"] == "0.5"
    with inside(beta):
        assert Entitlement.objects.get().offer_version.number == 1
        assert OfferVersion.objects.get(offer__key="team", number=2).notes == "cheaper seats"
        offer_id = Offer.objects.get(key="team").pk
        assert events_of(Offer, offer_id)
    bad = api.put("/api/v1/offers/team", {**offer, "charges": [
        {"model": "graduated", "name": "Users", "metric": "auth.users",
         "tiers": [{"up_to": None, "unit_price": "1"}, {"up_to": "5", "unit_price": "1"}]}]})
    assert bad.status_code == 400 and "charges[0].tiers" in bad.json()["error"]["fields"]


def test_a_private_offer_is_accepted_by_the_organizations_it_is_for(beta):
    sells_offers(beta)
    api = Api(beta, "bob")
    _datum_directory(api)
    _ok(api.post("/api/v1/offers", {"key": "deal", "name": "Deal", "public": False,
                                    "services": ["auth"]}), 201)
    with inside(beta):
        acme, other = make_consumer("acme"), make_consumer("other")
    olga = user_with_role(beta, "olga")
    with inside(beta):
        for org in (acme.org, other.org):
            RoleGrant.objects.create(user=olga, role=Role.ORG_ADMIN, organization=org)
    olga = Api(beta, "olga")
    path = f"/api/v1/billing-accounts/{acme.account.pk}/entitlements"
    assert olga.post(path, {"offer": "deal"}).status_code == 400
    assert _ok(olga.get(f"/api/v1/billing-accounts/{acme.account.pk}/offers")) == []
    assert _ok(api.put("/api/v1/offers/deal/consumers", {"organizations": ["acme"]})) == {
        "offer": "deal", "organizations": ["acme"]}
    offers = _ok(olga.get(f"/api/v1/billing-accounts/{acme.account.pk}/offers"))
    assert [o["key"] for o in offers] == ["deal"]
    _ok(olga.post(path, {"offer": "deal"}), 201)
    other_path = f"/api/v1/billing-accounts/{other.account.pk}/entitlements"
    assert olga.post(other_path, {"offer": "deal"}).status_code == 400
    unknown = api.put("/api/v1/offers/deal/consumers", {"organizations": ["nope"]})
    assert unknown.status_code == 400


def test_a_gauge_bills_its_time_weighted_average(beta):
    """Storage read at 100 GB from 1 Nov, 200 GB from 11 Nov; rated up to 20 Nov 12:00:
    (100 x 10 days + 200 x 9.5 days) / 19.5 days = 148.7179487179 GB."""
    sells_offers(beta)
    api = Api(beta, "bob")
    _ok(api.post("/api/v1/catalog/services", {"key": "storage", "name": "Storage"}), 201)
    _ok(api.post("/api/v1/catalog/metrics", {
        "key": "storage.gb", "name": "Stored", "aggregation": "time_weighted_average",
        "service": "storage", "unit": "GB"}), 201)
    _ok(api.post("/api/v1/offers", {
        "key": "disk", "name": "Disk", "services": ["storage"],
        "charges": [{"model": "per_unit", "name": "Stored GB", "metric": "storage.gb",
                     "unit_price": "0.1"}]}), 201)
    with inside(beta):
        consumer = make_consumer("acme")
    _ok(api.post(f"/api/v1/billing-accounts/{consumer.account.pk}/entitlements",
                 {"offer": "disk", "accepted_at": "2026-11-01T00:00:00Z"}), 201)
    readings = [("2026-11-01T00:00:00Z", "100"), ("2026-11-11T00:00:00Z", "200")]
    _ok(api.post("/api/v1/usage/events", {"events": [
        {"event_id": f"gb-{i}", "metric": "storage.gb", "project": "acme-web",
         "occurred_at": at, "value": value} for i, (at, value) in enumerate(readings)]}))
    with inside(beta):
        rate_open_cycles(now=NOW)
        line = InvoiceLine.objects.get(metric_key="storage.gb")
    assert (line.quantity, line.amount) == (Decimal("148.7179487179"), Decimal("14.87"))
