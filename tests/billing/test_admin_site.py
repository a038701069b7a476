"""The provider's admin as operators use it: the provider's name, a menu grouped by job
with libraries' internals hidden, a price list that shows live prices and a history of
changes with their ranges, read-only finalized invoices, and the impact of a price change
on the open cycle before it is saved (the admin's preview and `?dry_run=1`)."""

from decimal import Decimal

import pytest

from catalog.models import PriceChange
from cycles.clock import clock_now
from cycles.selectors import billing_period_containing
from cycles.services import cycles_ensure
from invoicing.models import Invoice
from invoicing.rating_run import rating_run
from tests.catalog.conftest import api_client
from tests.conftest import host_client, inside, sign_in
from tests.factories import make_org, make_project
from tests.invoicing.builders import run_resource, seed_catalog, seed_prices
from tests.invoicing.delivery.conftest import make_account, make_finalized_invoice

PRICES = "/admin/catalog/price/"
SET_PRICE = {"metric": "instance", "variant": "4cpu-16gb", "region": "", "service_class": "",
             "rate": "0.20", "time_unit": "minute", "effective_from_0": "",
             "effective_from_1": "", "_save": "Save"}


@pytest.fixture
def open_month(alpha, no_cycles):
    """Alpha's open month: instance 4cpu-16gb at 0.10/min since the month began, one
    running in mars-corp's project, another in venus-labs', rated up to now."""
    with inside(alpha):
        now = clock_now()
        period = billing_period_containing(now)
        instance, disk = seed_catalog()
        seed_prices(instance, disk, valid_from=period.start)
        for org in ("mars-corp", "venus-labs"):
            project = make_project(f"{org}-app", make_org(org), since=period.start)
            run_resource(f"{org}-vm", instance, "4cpu-16gb", project, since=period.start)
        cycle = cycles_ensure(now=now)
        rating_run(cycle=cycle, now=now)
    return alpha


def _admin(provider, username="alice"):
    client = host_client(provider)
    assert sign_in(client, username)
    return client


def test_the_menu_is_grouped_by_job_and_names_the_provider(alpha):
    page = _admin(alpha).get("/admin/").content.decode()
    assert "Alpha Cloud" in page
    groups = [g for g in ("Catalog", "Customers", "Billing", "Usage", "Settings") if g in page]
    assert groups == ["Catalog", "Customers", "Billing", "Usage", "Settings"]
    assert page.index("Price history") < page.index("Organizations") < page.index("Invoices")
    assert "djstripe" not in page and "Stripe customers" not in page.lower()
    assert _admin(alpha).get("/admin/djstripe/customer/").status_code == 404


def test_a_finalized_invoice_has_no_save_button_and_cannot_be_changed(alpha):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("mars-corp"))
    client = _admin(alpha)
    url = f"/admin/invoicing/invoice/{invoice.pk}/change/"
    page = client.get(url).content.decode()
    assert invoice.number in page and 'name="_save"' not in page
    assert "Void this invoice" in page
    refused = client.post(url, {"notes": "edited"}, follow=True)
    assert refused.status_code == 403
    assert "changed successfully" not in refused.content.decode()


def test_the_price_list_shows_live_prices_and_the_history_their_ranges(open_month):
    client = _admin(open_month)
    for rate in ("0.20", "0.30"):
        assert client.post(PRICES + "add/", {**SET_PRICE, "rate": rate,
                                             "_confirmed": "yes"}).status_code == 302
    listing = client.get(PRICES).content.decode()
    # The two superseded rows of the same key and instant are not listed beside it.
    assert listing.count("0.3 / minute") == 1 and "0.2 / minute" not in listing
    assert "0.2 / minute" in client.get(PRICES + "?status=superseded").content.decode()
    history = client.get("/admin/catalog/pricechange/").content.decode()
    with inside(open_month):
        assert PriceChange.objects.count() == 2
    assert "0.1 → 0.2 / minute" in history and "superseded by a later change" in history
    assert "0.2 → 0.3 / minute" in history and "→ open" in history


def test_setting_a_price_shows_its_impact_on_the_open_cycle_before_saving(open_month):
    client = _admin(open_month)
    with inside(open_month):
        before = {i.billing_account.organization.name: i.total for i in Invoice.objects.all()}
    preview = client.post(PRICES + "add/", SET_PRICE)
    page = preview.content.decode()
    assert preview.status_code == 200 and 'id="impact-table"' in page
    assert "Confirm and save" in page and 'name="_confirmed"' in page
    table = page[page.index('id="impact-table"'):]
    assert "mars-corp" in table and "venus-labs" in table and table.count("+") >= 2
    assert "2 of 2 billing accounts change" in page
    with inside(open_month):
        assert not PriceChange.objects.exists()  # nothing saved by the preview
        assert {i.billing_account.organization.name: i.total
                for i in Invoice.objects.all()} == before

    saved = client.post(PRICES + "add/", {**SET_PRICE, "_confirmed": "yes"})
    assert saved.status_code == 302
    with inside(open_month):
        assert PriceChange.objects.get().price.rate == Decimal("0.20")


def test_dry_run_on_the_api_answers_the_impact_and_saves_nothing(open_month):
    api = api_client(open_month, "alice")
    url = "/api/v1/system/billing/instance?dry_run=1"
    answer = api.put(url, {"variant": "4cpu-16gb", "rate": "0.20", "unit": "minute"},
                     content_type="application/json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["dry_run"] is True and body["saved"] is False
    accounts = {a["organization"]: a for a in body["impact"]["accounts"]}
    assert set(accounts) == {"mars-corp", "venus-labs"}
    for row in accounts.values():
        assert Decimal(row["after"]) == 2 * Decimal(row["before"]) > 0
        assert Decimal(row["difference"]) == Decimal(row["before"])
    with inside(open_month):
        assert not PriceChange.objects.exists()
    refused = api.put(url, {"variant": "4cpu-16gb", "rate": "-1", "unit": "minute"},
                      content_type="application/json")
    assert refused.status_code == 400 and "rate" in refused.json()["error"]["fields"]
