"""Payments in the audit log: the card a consumer saves or replaces (who, through which
API key) and each payment attempt of the collection task, before and after."""

import stripe

from accounts.api_keys import api_key_issue
from accounts.models import PaymentKind
from audit.tracking import INSERT, UPDATE
from invoicing.models import PaymentAttempt, PaymentAttemptStatus, PaymentProfile
from invoicing.payments.cards import payment_method_set
from invoicing.tasks import collect_payments_task
from tests.audit.support import context_of, diff_of, log_of
from tests.conftest import host_client, inside
from tests.invoicing.delivery.conftest import STRIPE_KEY, make_account, make_finalized_invoice


def test_a_card_saved_then_replaced_over_the_api_names_the_key(alpha, stripe_server):
    with inside(alpha):
        account = make_account("audited-card", kind=PaymentKind.CARD)
        issued = api_key_issue(username="alice", name="cards")
    client = host_client(alpha)
    url = f"/api/v1/billing-accounts/{account.pk}/payment-method"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    saved = client.post(url, {"payment_method": "pm_card_visa"},
                        content_type="application/json", **auth)
    assert saved.status_code == 200, saved.content
    mastercard = stripe.PaymentMethod.create(
        type="card", card={"number": "5555555555554444", "exp_month": 12, "exp_year": 2031,
                           "cvc": "123"}, api_key=STRIPE_KEY,
    )
    replaced = client.post(url, {"payment_method": mastercard.id},
                           content_type="application/json", **auth)
    assert replaced.status_code == 200, replaced.content

    with inside(alpha):
        events = log_of(PaymentProfile.objects.get(billing_account=account))
    assert events[0].pgh_label == INSERT
    changed = events[-1]
    assert changed.pgh_label == UPDATE
    assert diff_of(changed)["payment_method_id"][1] == mastercard.id
    for event in events:
        assert (context_of(event)["username"], context_of(event)["api_key"]) == (
            "alice", issued.api_key.prefix)


def test_the_collection_task_records_each_attempt_before_and_after(alpha, stripe_server):
    with inside(alpha):
        account = make_account("audited-charge", kind=PaymentKind.CARD)
        payment_method_set(billing_account=account, payment_method="pm_card_visa")
        invoice = make_finalized_invoice(account)
        collect_payments_task()
        attempt = PaymentAttempt.objects.get(invoice=invoice)
        events = log_of(attempt)
    assert attempt.status == PaymentAttemptStatus.SUCCEEDED
    assert events[0].pgh_label == INSERT
    assert events[0].pgh_data["status"] == PaymentAttemptStatus.PENDING
    assert diff_of(events[-1])["status"] == (PaymentAttemptStatus.PENDING,
                                             PaymentAttemptStatus.SUCCEEDED)
    for event in events:
        assert context_of(event) == {"task": "invoicing.tasks.collect_payments"}
