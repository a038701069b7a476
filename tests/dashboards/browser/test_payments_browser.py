"""A consumer adds a card through Stripe Elements (localstripe's Stripe.js, in a real
Chromium) and pays an invoice whose payment failed, at 1280x800 and 375x812. The card
is recorded by dj-stripe; the invoice is paid once."""

import pytest
from django.test import override_settings
from django.utils import timezone
from djstripe.models import Account
from playwright.sync_api import Page, expect

from tests.dashboards.browser.pages import Watch, check
from tests.dashboards.browser.test_dashboards_browser import _sign_in
from tests.invoicing.delivery.conftest import StripeKeys, localstripe_server  # noqa: F401

KEYS = StripeKeys("acct_tallygammabrowser", "sk_test_" + "tallygammabrowsertests012",
                  "pk_test_" + "tallygammabrowsertests012", "whsec_tallygammabrowser")
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@pytest.fixture(scope="module")
def stripe_site(site, localstripe_server, django_db_blocker):  # noqa: F811
    """Gamma connected to its own Stripe account on localstripe, whose fake Stripe.js the
    pages load; both of mars-corp's accounts pay by card, and last month's invoices
    failed for want of a card."""
    from django_tenants.utils import tenant_context

    from accounts.models import BillingAccount, PaymentKind
    from invoicing.models import Invoice, InvoiceDelivery, InvoiceStatus, PaymentStatus
    from invoicing.payments.collection import invoice_payment_collect
    from invoicing.payments.stripe_account import stripe_account_connect

    overrides = override_settings(STRIPE_API_HOST=localstripe_server.url, STRIPE_LIVE_MODE=False,
                                  STRIPE_JS_URL=f"{localstripe_server.url}/js.stripe.com/v3/")
    overrides.enable()
    with django_db_blocker.unblock(), tenant_context(site.provider):
        stripe_account_connect(secret_key=KEYS.secret_key, publishable_key=KEYS.publishable_key,
                               webhook_secret=KEYS.webhook_secret, account_id=KEYS.account_id)
        BillingAccount.objects.filter(organization__name="mars-corp").update(
            payment_kind=PaymentKind.CARD)
        invoices = {}
        for invoice in Invoice.objects.filter(status=InvoiceStatus.FINALIZED,
                                              billing_account__organization__name="mars-corp"):
            InvoiceDelivery.objects.get_or_create(invoice=invoice)
            assert invoice_payment_collect(invoice_id=invoice.pk, now=timezone.now()) == (
                PaymentStatus.FAILED)
            invoices[invoice.billing_account.name] = invoice.pk
    try:
        yield invoices
    finally:
        overrides.disable()
        with django_db_blocker.unblock():
            Account.objects.filter(id=KEYS.account_id).delete()


@pytest.mark.parametrize(("size", "account_name", "card_number", "last4"), [
    ("desktop", "Main", "4242424242424242", "4242"),
    # The phone adds a card whose bank asks for 3-D Secure, in Stripe.js's dialog.
    ("phone", "Lab", "4000002760003184", "3184"),
])
def test_a_consumer_adds_a_card_with_stripe_js_then_pays_a_failed_invoice(
        browser, site, stripe_site, db_access, size, account_name, card_number, last4):
    from accounts.models import BillingAccount
    from invoicing.models import InvoiceDelivery, PaymentAttempt, PaymentProfile

    context = browser.new_context(viewport=SIZES[size], locale="en-US", timezone_id="UTC")
    page: Page = context.new_page()
    watch = Watch(page)
    _sign_in(page, site, "carol", watch)
    invoice_id = stripe_site[account_name]
    with db_access():
        account = BillingAccount.objects.get(organization__name="mars-corp", name=account_name)

    # The invoice says why it is not paid, and offers to pay it.
    response = page.goto(site.url(f"/invoices/{invoice_id}/"))
    check(page, response, f"pay-01-{size}-invoice-failed", watch,
          key=('[data-testid="payment-state"]', '[data-testid="pay-now"]'))
    expect(page.get_by_test_id("payment-state")).to_contain_text("Failed")

    # The payment profile, reached from the invoice: Stripe's card field is mounted.
    page.get_by_role("link", name="Payment profile →").click()
    page.wait_for_load_state("load")
    assert page.url == site.url(f"/billing-accounts/{account.pk}/payment/")
    expect(page.get_by_test_id("card-on-file")).to_contain_text("No card yet")
    field = page.locator("#card-element input")
    expect(field.first).to_be_visible()
    response = page.reload()
    expect(field.first).to_be_visible()  # mounted once the page has its SetupIntent
    check(page, response, f"pay-02-{size}-add-card", watch, key=("#card-element input",))
    for placeholder, value in (("number", card_number), ("exp_month", "12"),
                               ("exp_year", "31"), ("cvc", "123"), ("postal_code", "10115")):
        page.fill(f'#card-element input[placeholder="{placeholder}"]', value)
    page.get_by_test_id("save-card").click()
    if last4 == "3184":
        # localstripe's Stripe.js stands in for the bank's 3-D Secure dialog.
        page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(site.url(f"/billing-accounts/{account.pk}/payment/"))
    expect(page.locator(".messages")).to_contain_text(f"•••• {last4}")
    expect(page.get_by_test_id("card-on-file")).to_contain_text(f"•••• {last4}")
    response = page.reload()
    expect(field.first).to_be_visible()  # ready to replace it
    check(page, response, f"pay-03-{size}-card-saved", watch,
          key=('[data-testid="card-on-file"]',))

    # Pay now: charged on the new card, once.
    page.goto(site.url(f"/invoices/{invoice_id}/"))
    page.get_by_test_id("pay-now").click()
    if last4 == "3184":
        # The bank asks again for this payment, made with the customer present.
        page.get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_test_id("payment-state")).to_contain_text("Paid", timeout=15000)
    expect(page.get_by_test_id("payment-state")).to_contain_text(f"•••• {last4}")
    check(page, page.reload(), f"pay-04-{size}-invoice-paid", watch,
          key=('[data-testid="payment-state"]',))
    expect(page.get_by_test_id("pay-now")).to_have_count(0)
    with db_access():
        delivery = InvoiceDelivery.objects.get(invoice_id=invoice_id)
        statuses = list(PaymentAttempt.objects.filter(invoice_id=invoice_id)
                        .order_by("number").values_list("status", flat=True))
        profile = PaymentProfile.objects.get(billing_account=account)
    assert delivery.payment_status == "paid"
    assert statuses.count("succeeded") == 1
    from djstripe.models import PaymentMethod
    assert PaymentMethod.objects.get(id=profile.payment_method_id).stripe_data["card"][
        "last4"] == last4

    # The card can be removed again: the account waits for a new one.
    page.goto(site.url(f"/billing-accounts/{account.pk}/payment/"))
    page.get_by_test_id("remove-card").click()
    page.wait_for_url(site.url(f"/billing-accounts/{account.pk}/payment/"))
    expect(page.get_by_test_id("card-on-file")).to_contain_text("No card yet")
    with db_access():
        assert PaymentProfile.objects.get(billing_account=account).payment_method_id == ""
    assert PaymentMethod.objects.get(id=profile.payment_method_id).customer_id is None
    context.close()
