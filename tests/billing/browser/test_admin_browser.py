"""An operator in the admin, in headless Chromium at 1280 x 800: the menu by job, the price
list that fits, a price change previewed on the open cycle then saved, an offer's
graduated tiers edited through its rows, and a finalized invoice with no save button.
Screenshots go to .tally/screenshots/admin-*.png for people to look at."""

from playwright.sync_api import Page, expect

from catalog.services.features import service_create
from catalog.services.metrics import metric_create
from catalog.services.offers import OfferContent, offer_create, offer_version_content
from cycles.clock import clock_now
from invoicing.models import Invoice, InvoiceStatus
from tests.conftest import PASSWORD
from tests.dashboards.browser.conftest import SCREENSHOTS
from tests.dashboards.browser.pages import Watch, check

ADMIN = ("#header-inner", "#content")
TIERS = [{"up_to": "1000", "unit_price": "0"}, {"up_to": None, "unit_price": "0.01"}]


def _sign_in(page: Page, site, watch: Watch) -> None:
    page.goto(site.url("/admin/login/"))
    page.fill("#id_username", "chief")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.locator('button[type="submit"]').click()
    watch.assert_clean("sign in")


def _fits(page: Page, selector: str) -> None:
    right = page.locator(selector).first.bounding_box()
    assert right["x"] + right["width"] <= page.viewport_size["width"] + 1, selector


def test_the_operator_previews_a_price_change_then_saves_it(page: Page, site):
    watch = Watch(page)
    _sign_in(page, site, watch)
    check(page, page.goto(site.url("/admin/")), "admin-01-index", watch,
          key=("#nav-sidebar-apps",), frame=ADMIN)
    sidebar = page.locator("#nav-sidebar-apps").inner_text()
    assert [g for g in ("Catalog", "Customers", "Billing", "Usage", "Settings")
            if g in sidebar] == ["Catalog", "Customers", "Billing", "Usage", "Settings"]
    assert "Gamma Cloud" in page.content()

    check(page, page.goto(site.url("/admin/catalog/price/")), "admin-02-price-list", watch,
          key=("#result_list",), frame=ADMIN)
    _fits(page, "#result_list")

    page.goto(site.url("/admin/catalog/price/add/?metric=instance&variant=4cpu-16gb"
                       "&time_unit=minute"))
    page.fill("#id_rate", "0.20")
    with page.expect_navigation(wait_until="load"):
        page.locator('button[name="_save"]').click()
    expect(page.locator("#impact-table")).to_be_visible()
    table = page.locator("#impact-table").inner_text()
    assert "mars-corp" in table and "venus-corp" in table and "+" in table
    page.screenshot(path=str(_shot("admin-03-price-impact")), full_page=True)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Confirm and save").click()
    expect(page.locator(".messagelist")).to_contain_text("0.2")
    watch.assert_clean("price saved")


def test_the_operator_edits_graduated_tiers_through_the_offer_rows(page: Page, site,
                                                                   db_access):
    with db_access():
        service_create(key="dns", name="DNS")
        metric_create(key="dns.queries", name="DNS queries", aggregation="sum",
                      service_key="dns", unit="query")
        offer = offer_create(key="scale", name="Scale", now=clock_now(), content=OfferContent(
            services=["dns"], charges=[{"model": "graduated", "name": "DNS queries",
                                        "metric": "dns.queries", "tiers": TIERS}])).offer
    watch = Watch(page)
    _sign_in(page, site, watch)
    url = site.url(f"/admin/catalog/offer/{offer.pk}/change/")
    check(page, page.goto(url), "admin-04-offer-rows", watch, key=("#tiers-table",),
          frame=ADMIN)
    assert page.locator("#id_tiers-0-up_to").input_value() == "1000"
    page.fill("#id_tiers-0-up_to", "5000")
    page.fill("#id_tiers-1-unit_price", "0.008")
    with page.expect_navigation(wait_until="load"):
        page.locator('button[name="_save"]').click()
    expect(page.locator("#impact-preview")).to_be_visible()
    expect(page.get_by_text("Please correct")).to_have_count(0)  # a preview, not an error
    page.screenshot(path=str(_shot("admin-05-offer-impact")), full_page=True)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Confirm and save").click()
    expect(page.locator(".messagelist")).to_contain_text("Scale v1")
    with db_access():
        version = offer.versions.get()
        tiers = offer_version_content(version).charges[0]["tiers"]
    assert tiers == [{"up_to": "5000", "unit_price": "0", "flat_fee": "0"},
                     {"up_to": None, "unit_price": "0.008", "flat_fee": "0"}]
    watch.assert_clean("offer saved")


def test_a_finalized_invoice_has_no_save_button(page: Page, site, db_access):
    with db_access():
        invoice = Invoice.objects.filter(status=InvoiceStatus.FINALIZED).first()
    watch = Watch(page)
    _sign_in(page, site, watch)
    check(page, page.goto(site.url(f"/admin/invoicing/invoice/{invoice.pk}/change/")),
          "admin-06-finalized-invoice", watch, key=("#content",), frame=ADMIN)
    assert page.locator('[name="_save"]').count() == 0
    assert page.locator('[name="_continue"]').count() == 0
    expect(page.get_by_text(invoice.number).first).to_be_visible()


def _shot(name: str):
    return SCREENSHOTS / f"{name}.png"
