"""The consumer's payment profile (add, replace and remove a card with Stripe Elements
and a SetupIntent) and "pay now" on an invoice whose payment failed or waits for the
customer's authentication (3-D Secure). The browser talks to Stripe with Stripe.js; the
card number never reaches Tally. The JSON endpoints here are the page's own (session
and CSRF); API clients have the same operations under /api/v1/."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import BillingAccount, PaymentKind
from accounts.permissions import request_access
from dashboards.selectors.invoices import invoice_visible
from dashboards.views.page import page_now, render_page
from invoicing.payments.cards import (
    payment_method_remove,
    payment_profile_for,
    setup_intent_complete,
    setup_intent_create,
)
from invoicing.payments.collection import PaymentRetryLater
from invoicing.payments.on_session import invoice_pay_now, invoice_payment_refresh
from invoicing.payments.selectors import card_on_file

CARD_SAVED = "{card} is now the card {account}'s invoices are charged on."
CARD_REMOVED = "The card was removed: {account}'s next invoices wait for a new one."
TRY_AGAIN = "The payment service is unavailable, try again in a minute."


def _account(request, account_id: int, *, manage: bool) -> BillingAccount:
    access = request_access(request)
    accounts = BillingAccount.objects.select_related("organization")
    if not access.sees_fleet:
        accounts = accounts.filter(organization_id__in=access.org_ids)
    account = get_object_or_404(accounts, pk=account_id, payment_kind=PaymentKind.CARD)
    if manage and not access.can_manage_org(account.organization_id):
        raise Http404("only an admin of the organization manages its card")
    return account


def _reasons(error: ValidationError) -> str:
    return "; ".join(r for reasons in error.message_dict.values() for r in reasons)


@login_required
@require_http_methods(["GET", "POST"])
def payment_profile(request, account_id: int):
    """The card on file; org admins add or replace it (Stripe Elements) or remove it."""
    account = _account(request, account_id, manage=request.method == "POST")
    if request.method == "POST":
        try:
            if request.POST.get("action") == "remove":
                payment_method_remove(billing_account=account)
                messages.success(request, CARD_REMOVED.format(account=account.name))
            else:
                profile = setup_intent_complete(
                    billing_account=account,
                    setup_intent_id=request.POST.get("setup_intent", "")[:255])
                messages.success(request, CARD_SAVED.format(
                    card=card_on_file(profile), account=account.name))
        except ValidationError as error:
            messages.error(request, _reasons(error))
        return redirect("payment-profile", account_id=account.pk)
    access = request_access(request)
    return render_page(request, "dashboards/payment_profile.html", {
        "account": account, "card": card_on_file(payment_profile_for(billing_account=account)),
        "can_manage": access.can_manage_org(account.organization_id),
        "stripe_js_url": settings.STRIPE_JS_URL,
    })


@login_required
@require_POST
def payment_setup_intent(request, account_id: int):
    """A SetupIntent for the page's card element (JSON)."""
    account = _account(request, account_id, manage=True)
    try:
        intent, publishable_key = setup_intent_create(billing_account=account)
    except ValidationError as error:
        return JsonResponse({"error": _reasons(error)}, status=400)
    return JsonResponse({"client_secret": intent.stripe_data.get("client_secret", ""),
                         "publishable_key": publishable_key})


def _pay_answer(invoice_id: int, pay) -> JsonResponse:
    return JsonResponse({
        "status": pay.status, "client_secret": pay.client_secret,
        "publishable_key": pay.publishable_key, "error": pay.error,
        "invoice_url": reverse("invoice", args=[invoice_id]),
    })


def _payable_invoice(request, invoice_id: int):
    invoice = invoice_visible(access=request_access(request), invoice_id=invoice_id)
    if not request_access(request).can_manage_org(invoice.billing_account.organization_id):
        raise Http404("only an admin of the organization pays its invoices")
    return invoice


@login_required
@require_POST
def invoice_pay(request, invoice_id: int):
    """Pay now with the saved card (JSON: done, or a client secret for 3-D Secure)."""
    invoice = _payable_invoice(request, invoice_id)
    try:
        pay = invoice_pay_now(invoice_id=invoice.pk, now=page_now())
    except ValidationError as error:
        return JsonResponse({"error": _reasons(error)}, status=400)
    except PaymentRetryLater:
        return JsonResponse({"error": TRY_AGAIN}, status=503)
    return _pay_answer(invoice.pk, pay)


@login_required
@require_POST
def invoice_pay_refresh(request, invoice_id: int):
    """After Stripe.js's authentication: what Stripe now says of the payment (JSON)."""
    invoice = _payable_invoice(request, invoice_id)
    try:
        pay = invoice_payment_refresh(invoice_id=invoice.pk, now=page_now())
    except PaymentRetryLater:
        return JsonResponse({"error": TRY_AGAIN}, status=503)
    return _pay_answer(invoice.pk, pay)
