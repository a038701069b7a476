"""The payment cases against localstripe, through dj-stripe's models and its webhook
processing: a webhook replayed, refused webhooks (signature, a timestamp outside 300 s
either way, a body that is not an event), 3-D Secure required and then paid by the
customer, and a refund."""

import hashlib
import hmac
import json
import time

import stripe
from djstripe.models import Event, PaymentIntent, WebhookEventTrigger

from accounts.models import PaymentKind
from invoicing.models import InvoiceDelivery, PaymentAttempt, PaymentStatus
from invoicing.payments.collection import invoice_payment_collect, payments_due
from invoicing.payments.stripe_account import webhook_path
from invoicing.payments.webhooks import WEBHOOK_NOT_AN_EVENT, WEBHOOK_STALE
from tests.conftest import host_client, inside
from tests.invoicing.delivery.conftest import (
    STRIPE_ACCOUNTS,
    STRIPE_KEY,
    later,
    make_account,
    make_finalized_invoice,
)
from tests.invoicing.delivery.test_payments_and_api import bearer, card_invoice, new_card

ALPHA = STRIPE_ACCOUNTS["alpha"]


def signed(body: bytes, secret: str, *, at: int | None = None) -> str:
    """A Stripe-Signature header, as Stripe (and localstripe) computes it."""
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def post_event(provider, endpoint, body: bytes, secret: str, **kwargs):
    return host_client(provider).post(
        webhook_path(endpoint), body, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signed(body, secret, **kwargs))


def test_a_replayed_webhook_is_processed_once_by_dj_stripe(alpha, beta, stripe_server):
    invoice = card_invoice(alpha)
    with inside(alpha):
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(1)) == PaymentStatus.PAID
        attempt = PaymentAttempt.objects.get(invoice=invoice)
    # The event localstripe raised for the charge, sent as it sends it, three times.
    (event,) = stripe_server.events("payment_intent.succeeded", attempt.payment_intent_id)
    body = json.dumps(event).encode()
    endpoint = stripe_server.endpoints["alpha"]
    answers = [post_event(alpha, endpoint, body, ALPHA.webhook_secret) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {json.dumps(a.json()) for a in answers} == {json.dumps(
        {"received": event["id"], "outcome": f"invoice {invoice.pk}: paid"})}
    # dj-stripe recorded three verified requests, one event, the intent it synced.
    assert WebhookEventTrigger.objects.filter(
        webhook_endpoint=endpoint, valid=True, processed=True).count() == 3
    assert Event.objects.filter(id=event["id"]).count() == 1
    assert Event.objects.get(id=event["id"]).djstripe_owner_account_id == ALPHA.account_id
    assert PaymentIntent.objects.get(id=attempt.payment_intent_id).stripe_data[
        "status"] == "succeeded"
    with inside(alpha):
        assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert (delivery.payment_status, delivery.paid_at) == (PaymentStatus.PAID, later(1))

    # Beta's own endpoint, on beta's host, with beta's secret: not beta's payment.
    beta_keys = STRIPE_ACCOUNTS["beta"]
    other = post_event(beta, stripe_server.endpoints["beta"], body, beta_keys.webhook_secret)
    assert other.json()["outcome"] == "ignored: no such payment here"
    # Alpha's endpoint does not exist on beta's host.
    assert post_event(beta, endpoint, body, ALPHA.webhook_secret).status_code == 404


def test_refused_webhooks_answer_400_in_the_envelope_and_store_nothing(alpha, stripe_server):
    endpoint = stripe_server.endpoints["alpha"]
    event = {"id": "evt_refused", "object": "event", "type": "payment_intent.succeeded",
             "livemode": False, "api_version": "2017-08-15",
             "data": {"object": {"id": "pi_none", "object": "payment_intent"}}}
    body = json.dumps(event).encode()
    now = int(time.time())
    cases = {
        "forged": (body, "whsec_wrong", now, "signature"),
        "a day ahead": (body, ALPHA.webhook_secret, now + 86400, "signature"),
        # 20 s past the 300 s bound, so a slow machine does not bring it back inside.
        "320 s ahead": (body, ALPHA.webhook_secret, now + 320, "signature"),
        "320 s late": (body, ALPHA.webhook_secret, now - 320, "signature"),
        "no id": (json.dumps({**event, "id": None}).encode(), ALPHA.webhook_secret, now,
                  "body"),
        "an array": (json.dumps([event]).encode(), ALPHA.webhook_secret, now, "body"),
        "not json": (b"\\x00{", ALPHA.webhook_secret, now, "body"),
    }
    for name, (payload, secret, at, field) in cases.items():
        answer = post_event(alpha, endpoint, payload, secret, at=at)
        assert answer.status_code == 400, name
        assert answer.json()["error"]["status"] == 400, name
        assert list(answer.json()["error"]["fields"]) == [field], name
    ahead = post_event(alpha, endpoint, body, ALPHA.webhook_secret,
                       at=int(time.time()) + 320).json()
    assert ahead["error"]["fields"]["signature"] == [WEBHOOK_STALE]
    array = post_event(alpha, endpoint, json.dumps([event]).encode(), ALPHA.webhook_secret)
    assert array.json()["error"]["fields"]["body"] == [WEBHOOK_NOT_AN_EVENT]
    assert not WebhookEventTrigger.objects.filter(webhook_endpoint=endpoint).exists()
    assert not Event.objects.filter(id="evt_refused").exists()
    # Within the tolerance both ways: accepted (an intent that is not ours: ignored).
    stripe.api_base = stripe_server.url
    foreign = stripe.PaymentIntent.create(amount=100, currency="eur", api_key=STRIPE_KEY)
    now = int(time.time())
    for at, event_id in ((now - 270, "evt_early"), (now + 270, "evt_late")):
        about = {**event, "id": event_id,
                 "data": {"object": {"id": foreign.id, "object": "payment_intent"}}}
        fine = post_event(alpha, endpoint, json.dumps(about).encode(), ALPHA.webhook_secret,
                          at=at)
        assert fine.status_code == 200, fine.content
        assert fine.json()["outcome"] == "ignored: no such payment here"
    # Signed, well formed, about an object Stripe does not know: a 400, not a 500.
    unknown = post_event(alpha, endpoint, body, ALPHA.webhook_secret)
    assert unknown.status_code == 400
    assert list(unknown.json()["error"]["fields"]) == ["body"]


def test_a_card_that_needs_3d_secure_waits_for_the_customer_who_pays_now(alpha, stripe_server):
    with inside(alpha):
        account = make_account("secure-corp", kind=PaymentKind.CARD)
    client = host_client(alpha)
    auth = bearer(alpha, "alice")
    added = client.post(f"/api/v1/billing-accounts/{account.pk}/payment-method",
                        {"payment_method": new_card("4000002760003184")},
                        content_type="application/json", **auth)
    assert added.status_code == 200, added.content
    with inside(alpha):
        invoice = make_finalized_invoice(account)
        # Off session, the bank asks for authentication: no charge, no blind retry.
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(1)) == (
            PaymentStatus.REQUIRES_ACTION)
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert delivery.next_payment_at is None
        assert invoice.pk not in payments_due(now=later(60 * 24 * 7))
    state = client.get(f"/api/v1/invoices/{invoice.pk}/payment", **auth).json()
    assert (state["payment_status"], state["payable_now"]) == ("requires_action", True)

    # "Pay now": the waiting intent's client secret, for Stripe.js in the browser.
    pay = client.post(f"/api/v1/invoices/{invoice.pk}/pay", **auth)
    assert pay.status_code == 200, pay.content
    secret = pay.json()["client_secret"]
    assert pay.json()["publishable_key"] == ALPHA.publishable_key
    with inside(alpha):
        (attempt,) = PaymentAttempt.objects.filter(invoice=invoice)
    assert secret.startswith(attempt.payment_intent_id + "_secret_")
    # What localstripe's Stripe.js does when the customer completes authentication.
    stripe_server.post(f"/v1/payment_intents/{attempt.payment_intent_id}/_authenticate"
                       "?success=true", {"key": ALPHA.publishable_key, "client_secret": secret})
    done = client.post(f"/api/v1/invoices/{invoice.pk}/payment/refresh", **auth)
    assert done.json()["payment_status"] == "paid"
    with inside(alpha):
        attempt.refresh_from_db()
        assert attempt.status == "succeeded"
        assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1  # charged once
    assert PaymentIntent.objects.get(id=attempt.payment_intent_id).stripe_data[
        "status"] == "succeeded"
    again = client.post(f"/api/v1/invoices/{invoice.pk}/pay", **auth)
    assert again.status_code == 400


def test_a_declined_payment_is_paid_now_with_a_new_card(alpha, stripe_server):
    invoice = card_invoice(alpha, card="pm_card_chargeCustomerFail")
    with inside(alpha):
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(1)) == (
            PaymentStatus.FAILED)
    client = host_client(alpha)
    auth = bearer(alpha, "alice")
    declined = client.post(f"/api/v1/invoices/{invoice.pk}/pay", **auth).json()
    assert declined["payment_status"] == "failed"
    assert "the card was refused" in declined["last_error"]
    client.post(f"/api/v1/billing-accounts/{invoice.billing_account_id}/payment-method",
                {"payment_method": "pm_card_visa"}, content_type="application/json", **auth)
    paid = client.post(f"/api/v1/invoices/{invoice.pk}/pay", **auth).json()
    assert (paid["payment_status"], paid["card_last4"]) == ("paid", "4242")
    with inside(alpha):
        attempts = list(PaymentAttempt.objects.filter(invoice=invoice).values_list(
            "number", "status", "on_session"))
    assert attempts == [(1, "failed", False), (2, "failed", True), (3, "succeeded", True)]


def test_a_paid_invoice_is_refunded_once_by_a_fleet_admin(alpha, stripe_server):
    invoice = card_invoice(alpha)
    with inside(alpha):
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(1)) == PaymentStatus.PAID
        from django.contrib.auth import get_user_model

        from accounts.models import Role, RoleGrant
        viewer = get_user_model().objects.create_user("viewer")
        RoleGrant.objects.create(user=viewer, role=Role.ORG_BILLING_VIEWER,
                                 organization=invoice.billing_account.organization)
    client = host_client(alpha)
    url = f"/api/v1/invoices/{invoice.pk}/refund"
    body = {"reason": "duplicate order"}
    assert client.post(url, body, content_type="application/json",
                       **bearer(alpha, "viewer")).status_code == 403
    auth = bearer(alpha, "alice")
    for _ in range(2):
        refunded = client.post(url, body, content_type="application/json", **auth)
        assert refunded.status_code == 200, refunded.content
        assert refunded.json()["payment_status"] == "refunded"
    with inside(alpha):
        attempt = PaymentAttempt.objects.get(invoice=invoice)
        assert attempt.refund_id.startswith("re_") and attempt.refunded_at is not None
    stripe.api_base = stripe_server.url
    refunds = stripe.Refund.list(payment_intent=attempt.payment_intent_id, api_key=STRIPE_KEY)
    assert [(r.id, r.amount) for r in refunds.data] == [(attempt.refund_id, 10298438)]
    # A late "succeeded" webhook does not undo the refund.
    (event,) = stripe_server.events("payment_intent.succeeded", attempt.payment_intent_id)
    late = post_event(alpha, stripe_server.endpoints["alpha"], json.dumps(event).encode(),
                      ALPHA.webhook_secret)
    assert late.json()["outcome"] == f"invoice {invoice.pk}: refunded"


def test_each_provider_connects_its_own_account_and_keys(alpha, beta, stripe_server):
    from django.core.exceptions import ValidationError

    from invoicing.payments.stripe_account import KEY_TAKEN, stripe_account_connect
    from invoicing.payments.stripe_api import provider_stripe

    beta_keys = STRIPE_ACCOUNTS["beta"]
    with inside(alpha):
        assert provider_stripe().secret_key == ALPHA.secret_key
        # Beta's key cannot become alpha's.
        try:
            stripe_account_connect(secret_key=beta_keys.secret_key,
                                   publishable_key=ALPHA.publishable_key,
                                   webhook_secret="whsec_x", account_id=ALPHA.account_id)
        except ValidationError as error:
            assert error.message_dict == {"secret_key": [KEY_TAKEN]}
        else:
            raise AssertionError("beta's key was accepted for alpha")
    with inside(beta):
        assert provider_stripe().account_id == beta_keys.account_id
    # A card saved on alpha lives in alpha's account only.
    invoice = card_invoice(alpha)
    with inside(alpha):
        profile = invoice.billing_account.payment_profile
    from djstripe.models import PaymentMethod
    assert PaymentMethod.objects.get(id=profile.payment_method_id).djstripe_owner_account_id == (
        ALPHA.account_id)


def test_an_operator_connects_the_stripe_account_in_the_admin(alpha, stripe_server):
    from djstripe.models import APIKey

    from tests.conftest import sign_in
    client = host_client(alpha)
    assert sign_in(client, "alice")
    keys = {"secret_key": "sk_test_" + "tallyalphaadminform0123456",
            "publishable_key": "pk_test_" + "tallyalphaadminform0123456",
            "webhook_secret": "whsec_adminform", "account_id": ALPHA.account_id}
    bad = client.post("/admin/invoicing/stripeaccount/add/", {**keys, "secret_key": "nope"})
    assert bad.status_code == 200 and "not a Stripe secret key" in bad.content.decode()
    with inside(alpha):
        from invoicing.models import StripeAccount
        account = StripeAccount.objects.get()
    saved = client.post(f"/admin/invoicing/stripeaccount/{account.pk}/change/", keys)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert set(APIKey.objects.filter(djstripe_owner_account_id=ALPHA.account_id)
               .values_list("secret", flat=True)) == {keys["secret_key"], keys["publishable_key"]}
    page = client.get("/admin/invoicing/stripeaccount/").content.decode()
    assert webhook_path(stripe_server.endpoints["alpha"]) in page


def test_the_stripe_connect_command_prints_the_webhook_url(alpha, stripe_server, capsys):
    from django.core.management import call_command

    call_command("stripe_connect", provider="alpha", secret_key=ALPHA.secret_key,
                 publishable_key=ALPHA.publishable_key, webhook_secret="whsec_rotated",
                 account_id=ALPHA.account_id)
    endpoint = stripe_server.endpoints["alpha"]
    endpoint.refresh_from_db()
    assert endpoint.secret == "whsec_rotated"  # the same endpoint (its URL), a new secret
    assert webhook_path(endpoint) in capsys.readouterr().out
