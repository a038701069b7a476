"""A consumer serving themselves in a real browser, on a desktop (1280x800) and a phone
(375x812): a budget and its email through a real SMTP sink, notification preferences
that the next email follows (and the email's one-click unsubscribe), an offer switch
previewed, confirmed and checked on the next invoice's lines, and an API key that calls
/api/v1/whoami. Every page passes `pages.check`: no element wider than the window, no
serious or critical axe-core violation, no console error; screenshots for people."""

import logging
import re
from unittest import mock

import pytest
from aiosmtpd.controller import Controller
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.db import connection
from django.test import override_settings
from django.test.testcases import LiveServerThread
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Page, expect

from accounts.onboarding import provider_onboard
from budgets.alerts import budget_alerts_evaluate
from cycles.services import cycles_ensure
from invoicing.models import Invoice, InvoiceStatus
from invoicing.rating_run import rating_run
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import outbox_deliver
from tenancy.models import BillingMode
from tests.conftest import PASSWORD
from tests.dashboards.browser.conftest import SCREENSHOTS, Site, _drop_provider
from tests.dashboards.browser.pages import Watch, check
from tests.dashboards.browser.self_service_world import build_self_service_world
from tests.invoicing.delivery.conftest import Mailbox, free_port

logging.getLogger("mail.log").setLevel(logging.WARNING)

SLUG = "delta"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@pytest.fixture(scope="module")
def mailbox():
    box = Mailbox(host="127.0.0.1", port=free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                           EMAIL_HOST=box.host, EMAIL_PORT=box.port, EMAIL_USE_TLS=False,
                           EMAIL_TIMEOUT=5):
        yield box
    controller.stop()


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, mailbox):
    """Provider delta (sells offers) with committed data, served on a real port."""
    with django_db_blocker.unblock():
        _drop_provider(SLUG)
        provider = provider_onboard(slug=SLUG, name="Delta Cloud", admin_username="chief",
                                   admin_password=PASSWORD,
                                   billing_mode=BillingMode.OFFERS).provider
        try:
            with tenant_context(provider), mock.patch("invoicing.delivery._queue_pipeline"):
                build_self_service_world()
        finally:
            connection.set_schema_to_public()
        server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait(timeout=30)
        if server.error:
            raise server.error
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            with override_settings(TALLY_LINK_BASE=f"http://{{host}}:{server.port}"):
                yield Site(base=f"http://{SLUG}.localhost:{server.port}", provider=provider)
        finally:
            server.terminate()
            _drop_provider(SLUG)
            connection.set_schema_to_public()


@pytest.fixture(params=list(VIEWPORTS))
def screen(request, page: Page) -> str:
    page.set_viewport_size(VIEWPORTS[request.param])
    return request.param


def _sign_in(page: Page, site, username: str) -> None:
    page.goto(site.url("/login/"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign in").click()


def _header(message, name: str) -> str:
    """A header as sent, unfolded (long headers are folded over lines)."""
    return "".join(str(message[name]).split())


def _click(page: Page, locator) -> None:
    with page.expect_navigation(wait_until="load"):
        locator.click()


def _rate_check_and_send(db_access, *, now=None) -> None:
    """What beat does after usage arrives: rate the open cycle, check budgets, and what
    the worker does: send the outbox over SMTP (to the sink)."""
    with db_access():
        now = now or timezone.now()
        cycle = cycles_ensure(now=now)
        rating_run(cycle=cycle, now=now)
        budget_alerts_evaluate(cycle=cycle, now=now)
        for pk in OutboxMessage.objects.filter(status=OutboxStatus.PENDING).values_list(
                "pk", flat=True):
            outbox_deliver(message_id=pk, now=now)


def _set_budget(page: Page, site, watch: Watch, *, name: str, thresholds: str, shot: str):
    check(page, page.goto(site.url("/orgs/acme/")), shot, watch, key=("#kpis", "#budgets"))
    budgets = page.locator("#budgets")
    if not budgets.locator("form.stack-form").is_visible():
        budgets.locator("summary").click()
    page.fill("#budget-name", name)
    page.fill("#budget-amount", "100")
    page.fill("#budget-thresholds", thresholds)
    _click(page, budgets.get_by_role("button", name="Set budget"))
    expect(page.locator(".messages")).to_contain_text(f"Budget {name} set")


def test_set_a_budget_and_get_its_email(page: Page, site, db_access, mailbox, screen):
    watch = Watch(page)
    _sign_in(page, site, "ann")
    name = f"Acme {screen}"
    _set_budget(page, site, watch, name=name, thresholds="20, 50",
                shot=f"30-{screen}-organization-budgets")
    _rate_check_and_send(db_access)
    mine = [m for m in mailbox.to("ann@acme.test") if name in m["Subject"]]
    assert sorted(re.search(r"(\d+)% reached", m["Subject"]).group(1) for m in mine) == [
        "20", "50"]
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in mine)
    links = [_header(m, "List-Unsubscribe") for m in mine]
    assert all(link.startswith(f"<{site.base}/unsubscribe/") for link in links), links
    check(page, page.goto(site.url("/orgs/acme/")), f"31-{screen}-budget-crossed", watch,
          key=("#budgets",))
    card = page.locator(f'[data-budget="{name}"]')
    expect(card).to_contain_text("crossed")
    expect(card.get_by_role("link", name="top consumers")).to_be_visible()


def test_change_preferences_and_the_next_email_follows_them(page: Page, site, db_access,
                                                           mailbox, screen):
    watch = Watch(page)
    _sign_in(page, site, "ann")
    check(page, page.goto(site.url("/account/notifications/")), f"32-{screen}-preferences",
          watch, key=("h1",))
    acme = page.locator('[data-scope="organization:acme"]')
    acme.locator('input[name="budget_min_threshold"]').fill("50")
    _click(page, acme.get_by_role("button", name="Save acme"))
    expect(page.locator(".messages")).to_contain_text("Saved")
    name = f"Second {screen}"
    _set_budget(page, site, watch, name=name, thresholds="20, 50",
                shot=f"33-{screen}-second-budget")
    _rate_check_and_send(db_access)
    mine = [m for m in mailbox.to("ann@acme.test") if name in m["Subject"]]
    assert [re.search(r"(\d+)% reached", m["Subject"]).group(1) for m in mine] == ["50"]

    # The email's one-click unsubscribe, followed in the browser.
    link = _header(mine[0], "List-Unsubscribe").strip("<>")
    check(page, page.goto(link), f"34-{screen}-unsubscribe", watch, key=("h1",),
          frame=("header.top", "main"))
    _click(page, page.get_by_role("button", name="Unsubscribe"))
    expect(page.get_by_test_id("unsubscribed")).to_contain_text("no more budget emails")
    check(page, page.goto(site.url("/account/notifications/")),
          f"35-{screen}-preferences-after-unsubscribe", watch, key=("h1",))
    box = acme.locator('input[name="budget_email"]')
    assert not box.is_checked()
    box.check()  # back on, for the next run and the next screen
    acme.locator('input[name="budget_min_threshold"]').fill("0")
    _click(page, acme.get_by_role("button", name="Save acme"))
    assert acme.locator('input[name="budget_email"]').is_checked()


def test_preview_confirm_and_switch_an_offer_then_read_the_next_invoice(page: Page, site,
                                                                       db_access, screen):
    watch = Watch(page)
    _sign_in(page, site, "ann")
    check(page, page.goto(site.url("/orgs/acme/offers/")), f"36-{screen}-offers", watch,
          key=("#offers",))
    _click(page, page.locator('[data-offer="free"]').get_by_role("button",
                                                                   name="Preview Free"))
    check(page, page.reload(), f"37-{screen}-preview-free", watch,
          key=('[data-testid="prorated"]',))
    expect(page.locator("main")).to_contain_text("Ends now: Pro v1.")
    if screen == "desktop":  # Pro since the 1st: billed up to now, prorated
        expect(page.get_by_test_id("prorated")).to_contain_text("Pro plan (Pro v1)")
    _click(page, page.get_by_role("button", name="Confirm: switch to Free"))
    expect(page.locator(".messages")).to_contain_text("Main now has Free v1")

    _click(page, page.locator('[data-offer="pro"]').get_by_role("button", name="Preview Pro"))
    check(page, page.reload(), f"38-{screen}-preview-pro", watch,
          key=('[data-testid="charged-now"]',))
    # Pro's onboarding was charged this cycle: switching back does not charge it again.
    expect(page.get_by_test_id("charged-now")).not_to_contain_text("Onboarding")
    expect(page.get_by_test_id("next-invoice")).to_contain_text("Onboarding (Pro v1)")
    _click(page, page.get_by_role("button", name="Confirm: switch to Pro"))
    expect(page.locator(".messages")).to_contain_text("Main now has Pro v1")

    _rate_check_and_send(db_access)
    with db_access():
        draft = Invoice.objects.get(status=InvoiceStatus.DRAFT,
                                    billing_account__organization__name="acme")
    check(page, page.goto(site.url(f"/invoices/{draft.pk}/")), f"39-{screen}-next-invoice",
          watch, key=("#lines",))
    lines = page.locator("#lines")
    assert lines.get_by_text("Onboarding (Pro v1)").count() == 1
    # No $0.00 line from the switch: the only lines at $0.00 are free units and free
    # tiers, printed at rate 0 so that every line reads quantity × rate = amount (issue 18).
    for row in lines.locator("tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        if cells and cells[-1].strip() == "$0.00":
            assert any(" free" in cell or cell.startswith("$0.00 per") for cell in cells), cells


def _whoami(page: Page, site, secret: str) -> tuple[int, dict]:
    """GET /api/v1/whoami from the page with the key and without the session's cookies
    (the browser resolves *.localhost; Playwright's own request client does not)."""
    return page.evaluate("""async ([url, key]) => {
        const r = await fetch(url, {headers: {Authorization: 'Bearer ' + key},
                                    credentials: 'omit'});
        return [r.status, await r.json()];
    }""", [site.url("/api/v1/whoami"), secret])


def test_create_a_key_and_call_whoami_with_it(page: Page, site, screen):
    watch = Watch(page)
    _sign_in(page, site, "ann")
    check(page, page.goto(site.url("/account/")), f"40-{screen}-account", watch,
          key=("#api-keys",))
    page.fill("#key-name", f"ci-{screen}")
    _click(page, page.get_by_role("button", name="Create API key"))
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("tly_")
    page.screenshot(path=str(SCREENSHOTS / f"41-{screen}-key-shown-once.png"), full_page=True)
    status, body = _whoami(page, site, secret)
    assert status == 200 and body["username"] == "ann" and body["auth"] == "api_key"
    page.goto(site.url("/account/"))
    assert secret not in page.content()
    _click(page, page.get_by_role("button", name=f"Revoke ci-{screen}"))
    status, _ = _whoami(page, site, secret)
    assert status in (401, 403)
