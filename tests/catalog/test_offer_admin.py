"""Offers edited in the admin as rows (charges, tiers, features, running-time prices),
never as JSON: graduated tiers changed row by row, reasons in words on the row they
concern, and a published offer's new version shown with its impact before it is saved."""

import pytest

from accounts.entitlements import entitlement_accept
from catalog.admin.offer_forms import TIER_NAMES_UNKNOWN
from catalog.admin.offers import REVIEW_IMPACT
from catalog.models import Offer
from catalog.services.offers import offer_version_content
from core.timefmt import datetime_text
from cycles.clock import clock_now
from cycles.services import cycles_ensure
from tests.conftest import host_client, inside, sign_in
from tests.offers_world import T0, datum_catalog, make_consumer, sells_offers

PRO_CHARGES = [
    {"model": "graduated", "name": "DNS queries", "metric": "dns.queries"},
    {"model": "package", "name": "Hosted zones", "metric": "dns.zones-hosted",
     "package_size": "10", "amount": "5", "free_units": "10"},
    {"model": "recurring", "name": "Pro plan", "amount": "30.00", "service": "dns"},
    {"model": "one_time", "name": "Onboarding", "amount": "49.00"},
]
PRO_FEATURES = [{"feature": "dns.zones", "limit": "25"}, {"feature": "dns.dnssec"},
                {"feature": "compute.vcpus", "limit": "16"}]
PRO_PRICES = [{"metric": "instance", "rate": "0.01", "time_unit": "hour"}]
NEW_TIERS = [{"charge": "DNS queries", "up_to": "500000", "unit_price": "0"},
             {"charge": "DNS queries", "up_to": "", "unit_price": "0.0000008"}]


def offer_post(*, tiers=NEW_TIERS, charges=PRO_CHARGES, **extra) -> dict:
    """The offer page's form as a browser posts it: the offer's fields and each table's
    rows with its management form."""
    data = {"name": "Pro", "description": "", "public": "on", "services": ["dns", "compute"],
            "notes": "cheaper free tier", "_save": "Save", **extra}
    for prefix, rows in (("charges", charges), ("tiers", tiers), ("features", PRO_FEATURES),
                         ("duration_prices", PRO_PRICES)):
        data.update({f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": 0,
                     f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000})
        for i, row in enumerate(rows):
            data.update({f"{prefix}-{i}-{name}": value for name, value in row.items()})
    return data


@pytest.fixture
def datum(alpha, no_cycles):
    """Alpha selling Datum's offers; acme on Pro since now, in the open month."""
    sells_offers(alpha)
    with inside(alpha):
        datum_catalog(now=T0)
        now = clock_now()
        cycles_ensure(now=now)
        entitlement_accept(billing_account=make_consumer("acme").account, offer_key="pro",
                           now=now)
    return alpha


def _admin(provider):
    client = host_client(provider)
    assert sign_in(client, "alice")
    return client


def test_the_offer_page_shows_its_content_as_rows_not_json(datum):
    with inside(datum):
        pro = Offer.objects.get(key="pro")
        first_created = pro.versions.get(number=1).created_at
    page = _admin(datum).get(f"/admin/catalog/offer/{pro.pk}/change/").content.decode()
    for table in ("charges-table", "tiers-table", "features-table", "duration_prices-table"):
        assert f'id="{table}"' in page
    assert 'value="1000000"' in page and 'value="0.0000004"' in page  # the tiers, as rows
    assert '"up_to"' not in page and "<textarea name=\"content\"" not in page
    # Its versions say when, in the provider's zone, named (not a raw ISO timestamp).
    created = datetime_text(first_created, datum.billing_timezone)
    assert f"v1 · created {created}" in page and datum.billing_timezone in created


def test_graduated_tiers_edited_row_by_row_make_a_new_version_after_the_preview(datum):
    client = _admin(datum)
    with inside(datum):
        pro = Offer.objects.get(key="pro")
    url = f"/admin/catalog/offer/{pro.pk}/change/"

    preview = client.post(url, offer_post())
    page = preview.content.decode()
    assert preview.status_code == 200, page[:2000]
    assert 'id="impact-preview"' in page and "acme" in page
    assert "Review the impact on the open cycle below" in page
    # A preview is not an error: no red banner, no error list above the impact table.
    assert "Please correct" not in page and "errornote" not in page
    assert 'class="errorlist' not in page
    with inside(datum):
        assert pro.versions.count() == 1  # nothing saved yet

    saved = client.post(url, offer_post(_confirmed="yes"))
    assert saved.status_code == 302, saved.content.decode()[:3000]
    with inside(datum):
        latest = pro.versions.order_by("-number").first()
        assert latest.number == 2  # v1 was accepted: it never changes
        dns = next(c for c in offer_version_content(latest).charges if c["name"] == "DNS queries")
        assert dns["tiers"] == [
            {"up_to": "500000", "unit_price": "0", "flat_fee": "0"},
            {"up_to": None, "unit_price": "0.0000008", "flat_fee": "0"}]
        assert latest.notes == "cheaper free tier"
    assert REVIEW_IMPACT  # the gate's message, imported for its wording


def test_a_wrong_row_says_why_in_words_on_that_row_and_nothing_changes(datum):
    client = _admin(datum)
    with inside(datum):
        pro = Offer.objects.get(key="pro")
    url = f"/admin/catalog/offer/{pro.pk}/change/"
    bad_price = [NEW_TIERS[0], {**NEW_TIERS[1], "unit_price": "cheap"}]
    page = client.post(url, offer_post(tiers=bad_price)).content.decode()
    assert "Tiers of &#x27;DNS queries&#x27;: must be a decimal number" in page

    unknown = [{**row, "charge": "DNS lookups"} for row in NEW_TIERS]
    page = client.post(url, offer_post(tiers=unknown)).content.decode()
    assert TIER_NAMES_UNKNOWN.format(name="DNS lookups").replace("'", "&#x27;") in page

    no_amount = [*PRO_CHARGES[:2], {"model": "recurring", "name": "Pro plan", "service": "dns"},
                 PRO_CHARGES[3]]
    page = client.post(url, offer_post(charges=no_amount)).content.decode()
    assert "is required for a recurring charge" in page
    with inside(datum):
        assert pro.versions.count() == 1
