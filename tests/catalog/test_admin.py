"""The fleet price list in the admin: set prices through the service, history read-only."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils.html import escape

from accounts.models import Role
from catalog.admin.prices import CHOOSE_ONE_PRICE
from catalog.models import Metric, Price, PriceChange, PriceChangeSource, Variant
from catalog.services.list_prices import RATE_NEGATIVE, RATE_TOO_PRECISE, VARIANT_UNKNOWN
from cycles.guard import CYCLE_FINALIZED
from cycles.selectors import billing_period_containing
from tests.catalog.conftest import ALPHA_NOV_START, ALPHA_OCT_START, close_cycle, user_with_role
from tests.conftest import host_client, inside, sign_in
from tests.factories import EPOCH, make_price

ADD = "/admin/catalog/price/add/"
CHANGELIST = "/admin/catalog/price/"


@pytest.fixture
def alice(alpha):
    client = host_client(alpha)
    assert sign_in(client, "alice")
    return client


def _form(**fields):
    data = {"metric": "instance", "variant": "", "region": "", "service_class": "",
            "rate": "0.10", "time_unit": "minute", "effective_from_0": "",
            "effective_from_1": "",
            # Past the impact preview (tests/billing/test_admin_site.py): saving for real.
            "_confirmed": "yes"}
    data.update(fields)
    return data


def test_alice_sets_a_price_through_the_form_and_sees_it_listed(alpha_catalog, alpha, alice):
    page = alice.get(ADD)
    assert page.status_code == 200
    assert b"Set a price" in page.content and b"4 CPU, 16 GB Memory" in page.content

    response = alice.post(ADD, _form(variant="4cpu-16gb", region="mars", rate="0.125"))
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    with inside(alpha):
        price = Price.objects.get()
        change = PriceChange.objects.get()
        start = billing_period_containing(change.changed_at).start
    assert (price.variant, price.region, price.rate) == ("4cpu-16gb", "mars", Decimal("0.125"))
    assert price.valid_from == start and price.valid_to is None
    assert price.created_by.username == "alice"
    assert (change.source, change.changed_by.username, change.previous_rate) == (
        PriceChangeSource.ADMIN, "alice", None)

    listing = alice.get(CHANGELIST)
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "0.125 / minute" in text and "4cpu-16gb" in text and "current" in text
    assert "instance 4cpu-16gb / mars / any class is now 0.125 per minute" in text


def test_a_scheduled_price_from_the_form(alpha_catalog, alpha, alice):
    with inside(alpha):
        make_price(alpha_catalog.instance, "0.10", "minute")
    response = alice.post(ADD, _form(rate="0.2", effective_from_0="2099-01-01",
                                     effective_from_1="00:00:00", _continue="1"))
    assert response.status_code == 302
    # Typed in the provider's billing zone, as the admin says ("Times in Pacific/Auckland").
    scheduled = datetime(2099, 1, 1, tzinfo=ZoneInfo("Pacific/Auckland"))
    with inside(alpha):
        new = Price.objects.get(rate=Decimal("0.2"))
        assert response["Location"] == f"{CHANGELIST}{new.pk}/change/"
        assert [(p.valid_from, p.valid_to, p.rate) for p in Price.objects.order_by("valid_from")] \
            == [(EPOCH, scheduled, Decimal("0.1")), (scheduled, None, Decimal("0.2"))]
    listing = alice.get(CHANGELIST + "?status=scheduled").content.decode()
    assert "scheduled" in listing and "0.2 / minute" in listing


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"rate": "-1"}, RATE_NEGATIVE),
        ({"rate": "0.00000000001"}, RATE_TOO_PRECISE),
        ({"rate": "ten"}, "Enter a number."),
        ({"variant": "500gb"}, VARIANT_UNKNOWN.format(metric="instance", variant="500gb")),
        ({"time_unit": ""}, "a unit of time is required"),
    ],
)
def test_bad_input_shows_a_form_error_not_a_500(alpha_catalog, alpha, alice, fields, reason):
    response = alice.post(ADD, _form(**fields))
    assert response.status_code == 200
    assert escape(reason) in response.content.decode()
    assert b"errornote" in response.content
    with inside(alpha):
        assert not Price.objects.exists()


def test_an_instant_in_a_finalized_cycle_is_a_form_error(alpha_catalog, alpha, alice):
    with inside(alpha):
        close_cycle(ALPHA_OCT_START, ALPHA_NOV_START, "2026-10")
    # 13:00 in Auckland (NZDT, UTC+13) is midnight UTC.
    response = alice.post(ADD, _form(effective_from_0="2026-10-15", effective_from_1="13:00"))
    assert response.status_code == 200
    message = CYCLE_FINALIZED.format(when="2026-10-15T13:00:00+13:00", label="2026-10")
    assert message in response.content.decode()
    with inside(alpha):
        assert not Price.objects.exists()


def test_price_rows_are_read_only_and_never_deleted(alpha_catalog, alpha, alice):
    with inside(alpha):
        price = make_price(alpha_catalog.instance, "0.10", "minute")
    page = alice.get(f"{CHANGELIST}{price.pk}/change/")
    assert page.status_code == 200
    assert b'name="rate"' not in page.content  # shown, not editable
    assert b"set a new price" in page.content
    assert alice.post(f"{CHANGELIST}{price.pk}/change/", {"rate": "9"}).status_code == 403
    assert alice.post(f"{CHANGELIST}{price.pk}/delete/", {"post": "yes"}).status_code == 403
    with inside(alpha):
        price.refresh_from_db()
        assert price.rate == Decimal("0.1")


def test_the_change_price_action_prefills_the_key(alpha_catalog, alpha, alice):
    with inside(alpha):
        price = make_price(alpha_catalog.instance, "0.10", "hour", variant="8cpu-32gb",
                           region="venus", service_class="spot")
        other = make_price(alpha_catalog.disk, "0.01", "hour")
    response = alice.post(CHANGELIST, {"action": "set_new_price_action",
                                       "_selected_action": [price.pk]})
    assert response.status_code == 302
    assert response["Location"] == (
        f"{ADD}?metric=instance&variant=8cpu-32gb&region=venus&service_class=spot"
        "&time_unit=hour"
    )
    form = alice.get(response["Location"]).content.decode()
    assert 'value="8cpu-32gb" selected' in form and 'value="venus" selected' in form

    response = alice.post(CHANGELIST, {"action": "set_new_price_action",
                                       "_selected_action": [price.pk, other.pk]}, follow=True)
    assert CHOOSE_ONE_PRICE in response.content.decode()


def test_a_fleet_viewer_looks_but_cannot_set_prices(alpha_catalog, alpha):
    user_with_role(alpha, "vera", Role.FLEET_VIEWER, staff=True)
    client = host_client(alpha)
    assert sign_in(client, "vera")
    assert client.get(CHANGELIST).status_code == 200
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, _form()).status_code == 403
    with inside(alpha):
        assert not Price.objects.exists()


def test_staff_without_a_fleet_role_do_not_see_prices(alpha_catalog, alpha):
    olga = user_with_role(alpha, "olga", Role.ORG_ADMIN, staff=True)
    client = host_client(alpha)
    # Django's staff flag opens nothing: the role policy decides who enters the admin.
    assert not sign_in(client, "olga")
    client.force_login(olga)
    for path in (CHANGELIST, ADD):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_audit_trail_is_read_only(alpha_catalog, alpha, alice):
    alice.post(ADD, _form())
    listing = alice.get("/admin/catalog/pricechange/")
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    assert alice.get("/admin/catalog/pricechange/add/").status_code == 403


def test_a_resource_type_with_variants_from_the_admin(alpha, alice):
    response = alice.post("/admin/catalog/resourcetype/add/", {
        "key": "gpu", "name": "GPU", "unit": "gpu", "description": "",
        "variants-TOTAL_FORMS": "1", "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0", "variants-MAX_NUM_FORMS": "1000",
        "variants-0-key": "a100", "variants-0-description": "NVIDIA A100",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    with inside(alpha):
        gpu = Metric.objects.get(key="gpu")
        assert gpu.aggregation == "duration"
        assert list(Variant.objects.filter(metric=gpu).values_list("key", "description")) == [
            ("a100", "NVIDIA A100")]
    bad = alice.post("/admin/catalog/resourcetype/add/", {
        "key": "Bad Key", "name": "X", "variants-TOTAL_FORMS": "0",
        "variants-INITIAL_FORMS": "0", "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
    })
    assert bad.status_code == 200 and b"errornote" in bad.content
    with inside(alpha):
        assert not Metric.objects.filter(name="X").exists()
