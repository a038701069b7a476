"""A declined card tells the account's billing contacts and org admins, once per attempt,
with the amount and a link to pay now; an admin who turned "payment failed" off hears
nothing, and its one-click unsubscribe turns exactly that off."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import PaymentKind, Role, RoleGrant
from invoicing.models import PaymentAttempt, PaymentStatus
from invoicing.payments.cards import payment_method_set
from invoicing.payments.collection import invoice_payment_collect, payment_apply_outcome
from notifications.models import NotificationPreference, OutboxMessage
from notifications.services import notification_preference_set
from notifications.unsubscribe import unsubscribe_apply
from tests.conftest import inside
from tests.invoicing.delivery.conftest import later, make_account, make_finalized_invoice


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def _admin(username: str, organization):
    user = get_user_model().objects.create_user(username=username,
                                                email=f"{username}@card.test")
    RoleGrant.objects.create(user=user, role=Role.ORG_ADMIN, organization=organization)
    return user


def test_a_declined_card_emails_once_and_not_those_who_turned_it_off(alpha, stripe_server,
                                                                      settings):
    settings.TALLY_PAYMENT_MAX_ATTEMPTS = 3
    settings.TALLY_PAYMENT_RETRY_SECONDS = 3600  # attempt 2 is due an hour later
    with inside(alpha):
        account = make_account("declined-corp", kind=PaymentKind.CARD,
                               contacts=("pay@card.test",))
        payment_method_set(billing_account=account,
                           payment_method="pm_card_chargeCustomerFail")
        invoice = make_finalized_invoice(account)
        _admin("keen", account.organization)
        quiet = _admin("quiet", account.organization)
        notification_preference_set(user=quiet, organization=account.organization,
                                    payment_email=False, now=later(0))

        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(0)) == (
            PaymentStatus.FAILED)
        sent = OutboxMessage.objects.filter(key__startswith=f"payment-failed:{invoice.pk}:")
        assert sorted(sent.values_list("to", flat=True)) == ["keen@card.test",
                                                             "pay@card.test"]
        email = sent.get(to="keen@card.test")
        attempt = PaymentAttempt.objects.get(invoice=invoice)
        assert invoice.number in email.subject and "declined" in email.subject
        assert f"/invoices/{invoice.pk}/" in email.text and "Pay now" in email.text
        assert f"{attempt.amount:,.2f}" in email.text or f"{attempt.amount}" in email.text
        assert email.unsubscribe == {"kind": "payment",
                                     "organization": account.organization_id}

        # The same outcome reported again (a webhook) sends nothing more.
        payment_apply_outcome(attempt_id=attempt.pk, intent_id="", intent_status="failed",
                              error="declined", now=later(1))
        assert sent.count() == 2

        # Its one-click unsubscribe turns off payment emails only, for that admin.
        unsubscribe_apply(message=email, now=later(2))
        keen = NotificationPreference.objects.get(user__username="keen")
        assert not keen.payment_email and keen.invoice_email and keen.budget_email
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(61)) == (
            PaymentStatus.FAILED)
        second = OutboxMessage.objects.filter(key__startswith=f"payment-failed:{invoice.pk}:2:")
        assert list(second.values_list("to", flat=True)) == ["pay@card.test"]
