"""The "payment failed" email: when a card payment attempt is declined (retried later or
given up) or waits for the customer's authentication (3-D Secure), the account's
billing contacts and its organization's admins who kept `payment_email` on hear once
per attempt: what failed, the amount, and a link to the invoice page to pay now.

Queued through the notifications outbox inside the caller's transaction, so it leaves
only if the failure is recorded; keyed by invoice, attempt and address, so a webhook
repeating the same outcome sends nothing more.
"""

from django.template.loader import render_to_string

from core.timefmt import datetime_text
from invoicing.formatting import locale_or_default, money_text
from invoicing.models import InvoiceDelivery, PaymentAttempt, PaymentStatus
from invoicing.presenter import document_settings
from notifications.outbox import outbox_enqueue
from notifications.selectors import payment_email_recipients
from tenancy.selectors import provider_current

# What the customer is told happened, by the delivery's payment status after the attempt.
WHAT_FAILED = {
    PaymentStatus.REQUIRES_ACTION: "needs you to confirm it with your bank (3-D Secure)",
    PaymentStatus.FAILED: "was declined",
    PaymentStatus.GIVEN_UP: "was declined, and we have stopped retrying it",
}


def payment_failed_key(*, invoice_id: int, attempt: int, email: str) -> str:
    return f"payment-failed:{invoice_id}:{attempt}:{email.lower()}"


def _invoice_link(invoice_id: int) -> str:
    # The same rule as invoicing.delivery.document_link, which imports this app's
    # collection module (importing it here would be a cycle).
    domain = provider_current().get_primary_domain()
    host = domain.domain if domain else "localhost"
    scheme = "http" if host == "localhost" or host.endswith(".localhost") else "https"
    return f"{scheme}://{host}/invoices/{invoice_id}/"


def _context(delivery: InvoiceDelivery, attempt: PaymentAttempt, error: str) -> dict:
    invoice = delivery.invoice
    provider = provider_current()
    retry = ""
    if delivery.payment_status == PaymentStatus.FAILED and delivery.next_payment_at:
        retry = datetime_text(delivery.next_payment_at, provider.billing_timezone)
    return {
        "invoice": invoice,
        "what": WHAT_FAILED[delivery.payment_status],
        "needs_customer": delivery.payment_status == PaymentStatus.REQUIRES_ACTION,
        "amount": money_text(attempt.amount, attempt.currency,
                             locale_or_default(document_settings().locale)),
        "reason": error,
        "retry": retry,
        "link": _invoice_link(invoice.pk),
        "provider_name": invoice.provider_name or provider.name,
        "account_name": invoice.account_name or invoice.billing_account.name,
    }


def payment_failed_email_queue(*, delivery: InvoiceDelivery, attempt: PaymentAttempt,
                               error: str) -> int:
    """Queue the email for this attempt's failure; how many were queued. Call it on the
    locked delivery row, after its payment status was updated."""
    if delivery.payment_status not in WHAT_FAILED:
        return 0
    account = delivery.invoice.billing_account
    recipients = payment_email_recipients(account)
    if not recipients:
        return 0
    context = _context(delivery, attempt, error)
    subject = (f"Payment of {context['amount']} for invoice {delivery.invoice.number} "
               f"{context['what']}")
    for email in recipients:
        outbox_enqueue(
            key=payment_failed_key(invoice_id=delivery.invoice_id, attempt=attempt.number,
                                   email=email),
            to=email, subject=subject,
            text=render_to_string("emails/payment_failed.txt", context),
            html=render_to_string("emails/payment_failed.html", context),
            unsubscribe={"kind": "payment", "organization": account.organization_id},
        )
    return len(recipients)
