"""Operators and consumers using Tally in a real browser (headless Chromium)."""

import re

from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.dashboards.browser.pages import Watch, check, money_value

ADMIN = ("#header-inner", "#content")  # the admin's theme (django-unfold)


def reload(page: Page):
    """Open the current page again (without its #fragment), for its response."""
    return page.goto(page.url.split("#")[0])


def _sign_in(page: Page, site, username: str, watch: Watch, *, screenshot: str | None = None):
    response = page.goto(site.url("/login/"))
    if screenshot:
        check(page, response, screenshot, watch, key=("form", "#id_username"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign in").click()


def test_operator_edits_a_price_in_the_admin_and_sees_the_forecast_change(page: Page, site,
                                                                          db_access):
    watch = Watch(page)
    _sign_in(page, site, "chief", watch, screenshot="01-sign-in")
    assert page.url == site.url("/operator/")
    check(page, page.goto(site.url("/operator/")), "02-operator-dashboard", watch,
          key=("#kpis", "#top-projects", "#by-type", "#ingestion"), charts=2)
    forecast_cell = page.locator('#top-projects [data-testid="forecast-adventure"]')
    before = money_value(forecast_cell.inner_text())
    assert before > 0

    # The admin's price list is one click away.
    page.get_by_role("link", name="Price list").first.click()
    page.wait_for_load_state("load")
    assert page.url.startswith(site.url("/admin/catalog/price/"))
    check(page, reload(page), "03-admin-price-list", watch, key=("#result_list",),
          frame=ADMIN)
    response = page.goto(site.url(
        "/admin/catalog/price/add/?metric=instance&variant=4cpu-16gb&time_unit=minute"))
    check(page, response, "04-admin-set-price", watch, key=("#id_rate",), frame=ADMIN)
    page.fill("#id_rate", "0.20")
    with page.expect_navigation(wait_until="load"):
        page.locator('button[name="_save"]').click()
    # Its impact on the open cycle comes first; the change is saved once confirmed.
    expect(page.locator("#impact-table")).to_be_visible()
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Confirm and save").click()
    expect(page.locator(".messagelist")).to_contain_text("0.2")

    # Back on the dashboard, rate now (what beat does every few minutes).
    page.goto(site.url("/operator/"))
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Rate now").click()
    expect(page.locator(".messages")).to_contain_text("Rated")
    after = money_value(page.locator('#top-projects [data-testid="forecast-adventure"]')
                        .inner_text())
    check(page, reload(page), "05-operator-after-price-change", watch,
          key=("#kpis", "#top-projects"), charts=2)
    assert after > before

    # The number on the page is the one the spend summary computes from the new drafts.
    with db_access():
        from django.utils import timezone

        from cycles.selectors import cycle_for_label
        from dashboards.templatetags.dashboards import money_text
        from invoicing.selectors import billed_lines, spend_summary

        cycle = cycle_for_label(None, now=timezone.now())
        summary = spend_summary(cycle=cycle,
                                lines=billed_lines(cycle=cycle).filter(project__name="adventure"))
    assert page.locator('#top-projects [data-testid="forecast-adventure"]').inner_text() == \
        money_text(summary.forecast, "USD")

    # Lists page in place with htmx: the next page replaces the table, not the document.
    check(page, page.goto(site.url("/operator/projects/")), "06-operator-projects", watch,
          key=("#projects",))
    page.evaluate("window.__samePage = true")
    page.locator(".pager").get_by_role("link", name="Next ›").click()
    expect(page).to_have_url(re.compile(r"\?page=2$"))
    expect(page.locator(".pager .current")).to_have_text("2")
    assert page.evaluate("window.__samePage") is True
    assert page.locator("#projects tbody tr").count() == 8  # 33 projects, 25 a page
    watch.assert_clean("operator projects, page 2")

    for path, name, key in [
        ("/operator/organizations/", "07-operator-organizations", ("#organizations",)),
        ("/operator/credits/", "08-operator-credits", ("#credit-form", "#credits")),
        ("/operator/invoices/attention/", "09-operator-attention", ("#attention",)),
    ]:
        check(page, page.goto(site.url(path)), name, watch, key=key)


def test_consumer_sees_the_upcoming_invoice_downloads_a_pdf_and_accepts_an_offer(
        page: Page, site, db_access):
    watch = Watch(page)
    _sign_in(page, site, "carol", watch)
    check(page, reload(page), "10-consumer-spend", watch, key=("#projects",))
    page.get_by_role("link", name="Mars Corp").click()
    page.wait_for_load_state("load")
    check(page, reload(page), "11-consumer-organization", watch,
          key=("#kpis", "#upcoming", "#invoices", "#offers"), charts=1)

    with db_access():
        from dashboards.templatetags.dashboards import money_text
        from invoicing.models import Invoice, InvoiceStatus

        drafts = {i.billing_account.name: i.total for i in Invoice.objects.filter(
            status=InvoiceStatus.DRAFT, billing_account__organization__name="mars-corp")
            .select_related("billing_account")}
        issued = Invoice.objects.filter(status=InvoiceStatus.FINALIZED,
                                        billing_account__organization__name="mars-corp",
                                        billing_account__name="Main").get()
    upcoming = page.locator('#upcoming [data-testid="upcoming-total"]')
    assert sorted(upcoming.all_inner_texts()) == sorted(
        money_text(total, "USD") for total in drafts.values())

    # Download last month's invoice as PDF, from the past invoices table.
    row = page.locator("#invoices tr", has_text=issued.number)
    with page.expect_download() as download_info:
        row.get_by_role("link", name="PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{issued.number}.pdf"
    assert open(download.path(), "rb").read(5) == b"%PDF-"

    # Accept the public Pro offer for the Main account: a preview first, then confirm.
    offer = page.locator('[data-offer="pro"]')
    offer.locator("select").select_option(label="Main")
    with page.expect_navigation(wait_until="load"):
        offer.get_by_role("button", name="Preview Pro").click()
    check(page, reload(page), "12-consumer-offer-preview", watch, key=("h1",))
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Confirm: accept Pro").click()
    expect(page.locator(".messages")).to_contain_text("Main now has Pro v1")
    check(page, page.goto(site.url("/orgs/mars-corp/")), "12-consumer-after-offer", watch,
          key=("#offers",), charts=1)
    expect(page.locator("#offers")).to_contain_text(re.compile(r"Pro v1\s+for Main"))
    with db_access():
        from accounts.models import Entitlement

        assert Entitlement.objects.filter(billing_account__name="Main",
                                          offer_version__offer__key="pro",
                                          end__isnull=True).count() == 1

    # The upcoming invoice's lines, and the project's own page.
    page.locator("#upcoming").get_by_role("link", name="See its lines").first.click()
    page.wait_for_load_state("load")
    check(page, reload(page), "13-consumer-upcoming-invoice", watch, key=("#lines",))
    check(page, page.goto(site.url("/projects/adventure/")), "14-consumer-project", watch,
          key=("#kpis", "#lines"), charts=1)
    check(page, page.goto(site.url("/orgs/mars-corp/invoices/")), "15-consumer-invoices",
          watch, key=("#invoices",))


def test_a_project_viewer_cannot_reach_another_projects_page(page: Page, site):
    watch = Watch(page)
    _sign_in(page, site, "erin", watch)
    check(page, page.goto(site.url("/spend/")), "16-project-viewer-spend", watch,
          key=("#projects",))
    assert page.locator("#projects").inner_text().count("adventure") == 1
    assert "lab-rat" not in page.content() and "secret-lab" not in page.content()
    check(page, page.goto(site.url("/projects/adventure/")), "17-project-viewer-project",
          watch, key=("#kpis", "#lines"), charts=1)

    for path in ("/projects/lab-rat/", "/projects/secret-lab/", "/orgs/mars-corp/",
                 "/operator/"):
        response = page.goto(site.url(path))
        assert response is not None and response.status == 404, path
        assert "lab-rat" not in page.content() and "secret-lab" not in page.content()
        watch.errors.clear()  # the 404 itself is logged by Chromium as a failed load


def test_pages_fit_a_phone_screen(page: Page, site):
    watch = Watch(page)
    page.set_viewport_size({"width": 390, "height": 844})
    _sign_in(page, site, "carol", watch)
    check(page, page.goto(site.url("/orgs/mars-corp/")), "18-phone-organization", watch,
          key=("#kpis", "#upcoming"), charts=1)
    check(page, page.goto(site.url("/projects/adventure/")), "19-phone-project", watch,
          key=("#kpis",), charts=1)


CONSUMER_PAGES = [
    ("/spend/", ("#projects",)), ("/orgs/mars-corp/", ("#kpis",)),
    ("/orgs/mars-corp/invoices/", ("#invoices",)), ("/orgs/mars-corp/offers/", ("#offers",)),
    ("/projects/adventure/", ("#kpis",)), ("/account/", ("#api-keys",)),
    ("/account/notifications/", ("h1",)),
]
OPERATOR_PAGES = [
    ("/operator/", ("#kpis",)), ("/operator/organizations/", ("#organizations",)),
    ("/operator/projects/", ("#projects",)), ("/operator/invoices/attention/", ("h1",)),
("/operator/credits/", ("#credits",)),
    ("/operator/late/", ("h1",)), ("/orgs/venus-corp/", ("#kpis",)),
]


def test_every_consumer_and_operator_page_fits_375_px_and_passes_axe(page: Page, site,
                                                                    db_access):
    """At 375 px no element is wider than the window (tables scroll inside their wrap or
    stack as cards), and axe finds no serious or critical violation (pages.check)."""
    watch = Watch(page)
    page.set_viewport_size({"width": 375, "height": 812})
    with db_access():
        from invoicing.models import Invoice

        invoice = Invoice.objects.filter(billing_account__organization__name="mars-corp"
                                         ).order_by("pk").first()
    _sign_in(page, site, "carol", watch)
    for path, key in [*CONSUMER_PAGES, (f"/invoices/{invoice.pk}/", ("#lines",))]:
        name = "375-consumer" + path.replace("/", "-").rstrip("-")
        check(page, page.goto(site.url(path)), name, watch, key=key)
    page.context.clear_cookies()
    _sign_in(page, site, "chief", watch)
    for path, key in OPERATOR_PAGES:
        name = "375-operator" + path.replace("/", "-").rstrip("-")
        check(page, page.goto(site.url(path)), name, watch, key=key)
