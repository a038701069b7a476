"""Cards through a real Stripe-compatible server (localstripe), recorded by dj-stripe;
the PDF endpoint, past invoices and the operator's view of failures."""

import time
from datetime import timedelta

import pytest
import stripe
from django.conf import settings
from django.utils import timezone
from djstripe.models import Customer, PaymentIntent, PaymentMethod, SetupIntent

from accounts.api_keys import api_key_issue
from accounts.models import PaymentKind, Role, RoleGrant
from invoicing.delivery import delivery_retry, invoice_deliver, invoice_pdf_render
from invoicing.models import (
    Invoice,
    InvoiceDelivery,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentProfile,
    PaymentStatus,
)
from invoicing.payments.cards import NOT_A_CARD_ACCOUNT, payment_method_set
from invoicing.payments.collection import invoice_payment_collect
from tests.conftest import PASSWORD, host_client, inside
from tests.invoicing.delivery.conftest import (
    STRIPE_ACCOUNTS,
    STRIPE_KEY,
    later,
    make_account,
    make_finalized_invoice,
)

ALPHA = STRIPE_ACCOUNTS["alpha"]


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def bearer(provider, username):
    with inside(provider):
        issued = api_key_issue(username=username, name=f"key-{username}-{time.monotonic_ns()}")
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def card_invoice(provider, name="card-corp", card="pm_card_visa"):
    with inside(provider):
        account = make_account(name, kind=PaymentKind.CARD, contacts=("pay@card.test",))
        payment_method_set(billing_account=account, payment_method=card)
        return make_finalized_invoice(account)


def new_card(number: str) -> str:
    """A PaymentMethod made as a browser's Stripe.js would (the number never reaches us)."""
    return stripe.PaymentMethod.create(
        type="card", card={"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        api_key=STRIPE_KEY,
    ).id


def test_a_consumer_adds_sees_replaces_and_removes_a_card_over_the_api(alpha, stripe_server):
    with inside(alpha):
        account = make_account("card-corp", kind=PaymentKind.CARD)
        chargeback = make_account("team-corp")
    client = host_client(alpha)
    url = f"/api/v1/billing-accounts/{account.pk}/payment-method"
    auth = bearer(alpha, "alice")

    empty = client.get(url, **auth)
    assert empty.status_code == 200
    assert empty.json() == {"billing_account": account.pk, "payment_kind": "card",
                            "has_card": False, "brand": "", "last4": "", "exp_month": None,
                            "exp_year": None}
    added = client.post(url, {"payment_method": "pm_card_visa"}, content_type="application/json",
                        **auth)
    assert added.status_code == 200, added.content
    assert (added.json()["brand"], added.json()["last4"], added.json()["has_card"]) == (
        "visa", "4242", True
    )
    assert client.get(url, **auth).json()["last4"] == "4242"
    with inside(alpha):
        first = PaymentProfile.objects.get(billing_account=account)
    # dj-stripe holds the records, owned by alpha's own Stripe account.
    customer = Customer.objects.get(id=first.stripe_customer_id)
    assert customer.djstripe_owner_account_id == ALPHA.account_id
    assert PaymentMethod.objects.get(id=first.payment_method_id).customer_id == customer.id

    mastercard = new_card("5555555555554444")
    replaced = client.post(url, {"payment_method": mastercard},
                           content_type="application/json", **auth)
    assert (replaced.json()["has_card"], replaced.json()["last4"]) == (True, "4444")
    with inside(alpha):
        profile = PaymentProfile.objects.get(billing_account=account)
        assert profile.stripe_customer_id == first.stripe_customer_id  # same customer
        assert profile.payment_method_id == mastercard
    # The replaced card is detached at Stripe, and dj-stripe's record says so.
    assert PaymentMethod.objects.get(id=first.payment_method_id).customer_id is None

    removed = client.delete(url, **auth)
    assert removed.status_code == 200
    assert (removed.json()["has_card"], removed.json()["last4"]) == (False, "")
    assert client.delete(url, **auth).status_code == 400

    unknown = client.post(url, {"payment_method": "pm_nope"}, content_type="application/json",
                          **auth)
    assert unknown.status_code == 400
    assert unknown.json()["error"]["fields"]["payment_method"]
    statement = client.post(f"/api/v1/billing-accounts/{chargeback.pk}/payment-method",
                            {"payment_method": "pm_card_visa"}, content_type="application/json",
                            **auth)
    assert statement.status_code == 400
    assert statement.json()["error"]["fields"] == {"payment_method": [NOT_A_CARD_ACCOUNT]}


def test_a_card_is_added_through_a_setup_intent_confirmed_by_stripe_js(alpha, stripe_server):
    """The dashboard's flow over the API: a SetupIntent, confirmed in the browser by
    Stripe.js (here: the same request localstripe's Stripe.js sends), then completed."""
    with inside(alpha):
        account = make_account("card-corp", kind=PaymentKind.CARD)
    client = host_client(alpha)
    auth = bearer(alpha, "alice")
    base = f"/api/v1/billing-accounts/{account.pk}"

    made = client.post(f"{base}/setup-intents", **auth)
    assert made.status_code == 201, made.content
    setup = made.json()
    assert setup["publishable_key"] == ALPHA.publishable_key
    assert setup["client_secret"].startswith(setup["id"] + "_secret_")
    record = SetupIntent.objects.get(id=setup["id"])
    assert record.djstripe_owner_account_id == ALPHA.account_id

    # Not confirmed yet: refused with its reason, nothing saved.
    early = client.post(f"{base}/payment-method", {"setup_intent": setup["id"]},
                        content_type="application/json", **auth)
    assert early.status_code == 400
    assert "not complete" in early.json()["error"]["fields"]["setup_intent"][0]

    # A card that asks for 3-D Secure: the first confirm needs the customer...
    confirmed = stripe_server.post(f"/v1/setup_intents/{setup['id']}/confirm", {
        "key": ALPHA.publishable_key, "use_stripe_sdk": True,
        "client_secret": setup["client_secret"],
        "payment_method_data": {"type": "card", "card": {
            "number": "4000002760003184", "exp_month": 12, "exp_year": 2031, "cvc": "123"}},
    })
    assert confirmed["status"] == "requires_action"
    pending = client.post(f"{base}/payment-method", {"setup_intent": setup["id"]},
                          content_type="application/json", **auth)
    assert pending.status_code == 400
    # ...who completes the authentication in Stripe.js's dialog.
    stripe_server.post(f"/v1/setup_intents/{setup['id']}/confirm", {
        "key": ALPHA.publishable_key, "use_stripe_sdk": True,
        "client_secret": setup["client_secret"]})
    saved = client.post(f"{base}/payment-method", {"setup_intent": setup["id"]},
                        content_type="application/json", **auth)
    assert saved.status_code == 200, saved.content
    assert (saved.json()["has_card"], saved.json()["last4"]) == (True, "3184")
    assert SetupIntent.objects.get(id=setup["id"]).stripe_data["status"] == "succeeded"

    # Another account's SetupIntent is not this one's.
    with inside(alpha):
        other = make_account("other-corp", kind=PaymentKind.CARD)
    foreign = client.post(f"/api/v1/billing-accounts/{other.pk}/payment-method",
                          {"setup_intent": setup["id"]}, content_type="application/json", **auth)
    assert foreign.status_code == 400
    both = client.post(f"{base}/payment-method",
                       {"setup_intent": setup["id"], "payment_method": "pm_card_visa"},
                       content_type="application/json", **auth)
    assert both.status_code == 400


def test_payment_method_roles_and_isolation(alpha, beta, stripe_server):
    with inside(alpha):
        account = make_account("card-corp", kind=PaymentKind.CARD)
        from django.contrib.auth import get_user_model

        viewer = get_user_model().objects.create_user("viewer", password=PASSWORD)
        RoleGrant.objects.create(user=viewer, role=Role.ORG_BILLING_VIEWER,
                                 organization=account.organization)
        get_user_model().objects.create_user("stranger", password=PASSWORD)
    url = f"/api/v1/billing-accounts/{account.pk}/payment-method"
    body = {"payment_method": "pm_card_visa"}
    client = host_client(alpha)
    assert client.get(url, **bearer(alpha, "viewer")).status_code == 200
    denied = client.post(url, body, content_type="application/json", **bearer(alpha, "viewer"))
    assert denied.status_code == 403
    assert client.delete(url, **bearer(alpha, "viewer")).status_code == 403
    setup = f"/api/v1/billing-accounts/{account.pk}/setup-intents"
    assert client.post(setup, **bearer(alpha, "viewer")).status_code == 403
    assert client.get(url, **bearer(alpha, "stranger")).status_code == 404
    # Alpha's account does not exist on beta's host; alpha's key is unknown there.
    assert host_client(beta).get(url, **bearer(beta, "bob")).status_code == 404
    assert host_client(beta).get(url, **bearer(alpha, "alice")).status_code == 401


def test_a_card_invoice_is_charged_once_and_recorded_by_dj_stripe(alpha, stripe_server):
    invoice = card_invoice(alpha)
    with inside(alpha):
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(1)) == PaymentStatus.PAID
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(2)) == PaymentStatus.PAID
        attempt = PaymentAttempt.objects.get(invoice=invoice)
        assert attempt.idempotency_key == f"alpha-invoice-{invoice.number}-attempt-1"
        assert (attempt.status, attempt.amount, attempt.currency) == (
            PaymentAttemptStatus.SUCCEEDED, invoice.total, "EUR"
        )
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert (delivery.payment_status, delivery.paid_at, delivery.payment_attempts) == (
            PaymentStatus.PAID, later(1), 1
        )
        customer = PaymentProfile.objects.get(billing_account=invoice.billing_account_id)
    intents = [i for i in stripe_server.intents()
               if i["metadata"].get("tally_attempt") == attempt.idempotency_key
               and i["customer"] == customer.stripe_customer_id]
    assert len(intents) == 1
    assert (intents[0]["amount"], intents[0]["currency"], intents[0]["status"]) == (
        10298438, "eur", "succeeded"
    )
    record = PaymentIntent.objects.get(id=attempt.payment_intent_id)
    assert (record.stripe_data["status"], record.customer_id,
            record.djstripe_owner_account_id) == ("succeeded", customer.stripe_customer_id,
                                                  ALPHA.account_id)
    # The invoice's payment state, as pages and the API show it.
    state = host_client(alpha).get(f"/api/v1/invoices/{invoice.pk}/payment",
                                   **bearer(alpha, "alice")).json()
    assert (state["payment_status"], state["card_brand"], state["card_last4"],
            state["payable_now"]) == ("paid", "visa", "4242", False)


def test_a_declined_card_is_retried_on_schedule_then_given_up_and_an_operator_can_retry(
    alpha, stripe_server, settings
):
    settings.TALLY_PAYMENT_MAX_ATTEMPTS = 2
    settings.TALLY_PAYMENT_RETRY_SECONDS = 3600
    invoice = card_invoice(alpha, card="pm_card_chargeCustomerFail")
    with inside(alpha):
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(0)) == (
            PaymentStatus.FAILED
        )
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert delivery.next_payment_at == later(60)
        assert "the card was refused" in delivery.last_error
        assert delivery.failed_step == "payment"
        # Not due yet: no new attempt.
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(30)) == (
            PaymentStatus.FAILED
        )
        assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(61)) == (
            PaymentStatus.GIVEN_UP
        )
        assert list(PaymentAttempt.objects.filter(invoice=invoice).values_list(
            "number", "status")) == [(1, "failed"), (2, "failed")]
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(600)) == (
            PaymentStatus.GIVEN_UP
        )

        # The operator sees it in the admin list, with the error, and retries it.
        client = host_client(alpha)
        client.login(username="alice", password=PASSWORD)
        page = client.get("/admin/invoicing/invoice/?delivery=problem")
        assert page.status_code == 200
        assert invoice.number in page.content.decode()
        assert "the card was refused" in page.content.decode()
        response = client.post("/admin/invoicing/invoice/", {
            "action": "retry_delivery", "_selected_action": [invoice.pk],
            "confirmed": "yes"})
        assert response.status_code == 302
        delivery.refresh_from_db()
        assert delivery.payment_status == PaymentStatus.FAILED
        assert delivery.next_payment_at is not None
        # A good card now: the retry charges it (attempt 3, its own idempotency key).
        profile = PaymentProfile.objects.get(billing_account=invoice.billing_account)
    with inside(alpha):
        payment_method_set(billing_account=invoice.billing_account, payment_method="pm_card_visa")
        assert profile.pk == PaymentProfile.objects.get(
            billing_account=invoice.billing_account).pk
        # The admin's retry is due from the operator's "now".
        retry_at = timezone.now() + timedelta(seconds=1)
        assert invoice_payment_collect(invoice_id=invoice.pk, now=retry_at) == PaymentStatus.PAID
        assert PaymentAttempt.objects.get(invoice=invoice, number=3).idempotency_key.endswith(
            "-attempt-3")


def test_a_worker_that_died_after_charging_never_charges_twice(alpha, stripe_server, settings):
    """The attempt row was committed and Stripe charged, but the worker died before it
    recorded the answer: the next run finds the PaymentIntent by its key."""
    settings.TALLY_PAYMENT_LEASE_SECONDS = 60
    invoice = card_invoice(alpha)
    with inside(alpha):
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(0)) == PaymentStatus.PAID
        # Rewind our records to "in flight, answer unknown".
        PaymentAttempt.objects.filter(invoice=invoice).update(
            status=PaymentAttemptStatus.PENDING, payment_intent_id=""
        )
        InvoiceDelivery.objects.filter(invoice=invoice).update(
            payment_status=PaymentStatus.PROCESSING, paid_at=None
        )
        # Within the lease: someone may still be calling Stripe; nothing happens.
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(0)) == (
            PaymentStatus.PROCESSING
        )
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(2)) == PaymentStatus.PAID
        attempt = PaymentAttempt.objects.get(invoice=invoice)
        customer = PaymentProfile.objects.get(billing_account=invoice.billing_account_id)
    matching = [i for i in stripe_server.intents()
                if i["metadata"].get("tally_attempt") == attempt.idempotency_key
                and i["customer"] == customer.stripe_customer_id]
    assert len(matching) == 1 and matching[0]["id"] == attempt.payment_intent_id


def test_the_pdf_endpoint_follows_invoice_visibility_and_isolation(alpha, beta):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("mars-corp"))
        other = make_finalized_invoice(make_account("venus-corp"))
        from django.contrib.auth import get_user_model

        viewer = get_user_model().objects.create_user("viewer", password=PASSWORD)
        RoleGrant.objects.create(user=viewer, role=Role.ORG_BILLING_VIEWER,
                                 organization=invoice.billing_account.organization)
    url = f"/api/v1/invoices/{invoice.pk}/pdf"
    client = host_client(alpha)
    response = client.get(url, **bearer(alpha, "alice"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"%PDF")
    assert client.get(url, **bearer(alpha, "viewer")).status_code == 200
    outside = client.get(f"/api/v1/invoices/{other.pk}/pdf", **bearer(alpha, "viewer"))
    assert outside.status_code == 404
    assert outside.json()["error"]["status"] == 404
    assert host_client(beta).get(url, **bearer(beta, "bob")).status_code == 404
    assert host_client(beta).get(url, **bearer(alpha, "alice")).status_code == 401
    with inside(alpha):
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert delivery.pdf_path == f"alpha/invoices/{invoice.number}.pdf"
        # Stored once: the endpoint serves the same bytes again.
        stored = (settings.MEDIA_ROOT / delivery.pdf_path).read_bytes()
    again = b"".join(client.get(url, **bearer(alpha, "alice")).streaming_content)
    assert body == stored == again


def test_past_invoices_list_by_account_organization_project_period_and_status(
    alpha, django_assert_max_num_queries
):
    with inside(alpha):
        invoices = [make_finalized_invoice(make_account(f"org-{i}")) for i in range(4)]
        invoice_deliver(invoice_id=invoices[0].pk, now=later(1))
    client = host_client(alpha)
    auth = bearer(alpha, "alice")
    with django_assert_max_num_queries(12):
        listed = client.get("/api/v1/invoices?period=2020-10&status=finalized", **auth)
    results = listed.json()["results"]
    assert len(results) == 4
    first = next(r for r in results if r["id"] == invoices[0].pk)
    assert first["pdf"] == f"/api/v1/invoices/{invoices[0].pk}/pdf"
    assert first["payment_status"] == "not_applicable"
    by_account = client.get(
        f"/api/v1/invoices?billing_account={invoices[1].billing_account_id}", **auth
    ).json()["results"]
    assert [r["number"] for r in by_account] == [invoices[1].number]
    by_org = client.get("/api/v1/invoices?organization=org-2", **auth).json()["results"]
    assert [r["number"] for r in by_org] == [invoices[2].number]
    by_project = client.get("/api/v1/invoices?project=org-3-adventure", **auth).json()["results"]
    assert [r["number"] for r in by_project] == [invoices[3].number]
    assert client.get("/api/v1/invoices?period=2020-09", **auth).json()["results"] == []


def test_a_failing_pdf_step_is_marked_after_the_bound_and_retried_from_the_admin(
    alpha, settings, monkeypatch
):
    settings.TALLY_DELIVERY_MAX_FAILURES = 2
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("mars-corp"))

        def broken(**kwargs):
            raise OSError("disk full")

        monkeypatch.setattr("invoicing.delivery.invoice_pdf_store", broken)
        for minute in (1, 2):
            assert invoice_pdf_render(invoice_id=invoice.pk, now=later(minute)) is False
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert (delivery.pdf_status, delivery.failed_step, delivery.step_failures) == (
            "failed", "pdf", 2
        )
        assert delivery.last_error == "OSError: disk full"
        assert Invoice.objects.filter(pk=invoice.pk).count() == 1
        monkeypatch.undo()
        assert delivery_retry(invoice_id=invoice.pk, now=later(3)) is True
        assert invoice_pdf_render(invoice_id=invoice.pk, now=later(4)) is True
        delivery.refresh_from_db()
        assert (delivery.pdf_status, delivery.failed_step, delivery.last_error) == ("done", "", "")
        assert delivery_retry(invoice_id=invoice.pk, now=later(5)) is False


def test_pipeline_steps_called_twice_do_their_work_once(alpha, mailbox, settings):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("mars-corp", contacts=("a@m.test",)))
        first = invoice_deliver(invoice_id=invoice.pk, now=later(1))
        second = invoice_deliver(invoice_id=invoice.pk, now=later(2))
        assert (first.pdf, first.email, first.payment) == ("done", "done", "not_applicable")
        assert second == first
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert delivery.pdf_rendered_at == later(1) and delivery.emailed_at == later(1)
        assert (settings.MEDIA_ROOT / "alpha" / "invoices").is_dir()
        assert len(list((settings.MEDIA_ROOT / "alpha" / "invoices").iterdir())) == 1
        from notifications.models import OutboxMessage

        assert OutboxMessage.objects.count() == 1
    assert later(2) - later(1) == timedelta(minutes=1)
