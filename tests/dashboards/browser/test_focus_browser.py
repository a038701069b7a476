"""An operator downloads the month's FOCUS export from the operator dashboard."""

import csv
from decimal import Decimal

from playwright.sync_api import Page

from cycles.clock import clock_now
from cycles.models import BillingCycle
from invoicing.focus import COLUMNS
from invoicing.models import Invoice, InvoiceStatus
from tests.dashboards.browser.pages import Watch, check
from tests.dashboards.browser.test_dashboards_browser import _sign_in


def test_operator_downloads_the_focus_export_from_the_dashboard(page: Page, site, db_access):
    watch = Watch(page)
    _sign_in(page, site, "chief", watch)
    check(page, page.goto(site.url("/operator/")), "focus-01-operator-dashboard", watch,
          key=("#kpis",), charts=2)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="FOCUS CSV").click()
    download = download_info.value
    with open(download.path(), newline="") as file:
        rows = list(csv.DictReader(file))
    assert download.suggested_filename.startswith(f"{site.provider.slug}-focus-")
    assert list(rows[0]) == list(COLUMNS)
    with db_access():
        now = clock_now()
        cycle = BillingCycle.objects.get(start__lte=now, end__gt=now)
        invoiced = sum((i.total for i in Invoice.objects.filter(cycle=cycle).exclude(
            status=InvoiceStatus.VOID)), Decimal(0))
    assert sum(Decimal(r["BilledCost"]) for r in rows) == invoiced

    page.set_viewport_size({"width": 375, "height": 812})
    check(page, page.goto(site.url("/operator/")), "focus-02-operator-dashboard-phone", watch,
          key=("#kpis",), charts=2)
