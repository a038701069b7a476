"""Offers from a consumer's side: the page comparing the offers an organization may take
(the public ones, and private ones it holds), and accepting, switching or ending one,
each previewed first (what is charged now, what is prorated, the cycle's fee lines)
and done only once confirmed."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.entitlements import entitlement_accept, entitlement_end
from accounts.permissions import request_access
from accounts.selectors import organization_get
from catalog.selectors import offer_version_get
from core.errors import Conflict
from core.timefmt import datetime_text
from dashboards.forms import OfferAcceptForm
from dashboards.selectors.billing_accounts import billing_accounts_with_projects
from dashboards.selectors.billing_cycles import dashboard_cycle
from dashboards.selectors.offer_preview import entitlement_end_preview, offer_accept_preview
from dashboards.selectors.offers import entitlement_of, organization_offers
from dashboards.views.page import page_currency, page_now, render_page
from tenancy.models import BillingMode
from tenancy.selectors import provider_current

OFFER_ACCEPTED = "{account} now has {offer} (from {when})."
OFFER_ENDED = "{offer} for {account} ended at {when}."
NOT_CONFIRMED = "Nothing changed: review the preview and confirm."


def _org(request, name: str, *, manage: bool = False):
    access = request_access(request)
    organization = organization_get(access=access, name=name)
    if not access.can_view_org(organization.pk):
        raise Http404(f"no organization {name!r}")
    if manage and not access.can_manage_org(organization.pk):
        raise Http404("only an admin of the organization changes its offers")
    return organization, access.can_manage_org(organization.pk)


def _reasons(error) -> str:
    detail = getattr(error, "message_dict", None) or getattr(error, "detail", None)
    if isinstance(detail, dict):
        return "; ".join(str(r) for reasons in detail.values() for r in reasons)
    return "; ".join(str(m) for m in getattr(error, "messages", [error]))


@login_required
@require_GET
def offers(request, name: str):
    organization, can_manage = _org(request, name)
    now = page_now()
    accounts = billing_accounts_with_projects(organization=organization, at=now)
    found = organization_offers(organization=organization, accounts=accounts, now=now)
    return render_page(request, "dashboards/offers.html", {
        "organization": organization, "can_manage": can_manage, "offers": found.offers,
        "entitlements": found.entitlements, "accounts": accounts})


def _bills_fees() -> bool:
    """Offer fees bill only on a provider that sells offers; one that charges back
    prices usage by its list prices, and an offer there grants features and quotas."""
    return provider_current().billing_mode == BillingMode.OFFERS


def _account(request, organization, data):
    form = OfferAcceptForm(data, organization=organization)
    if not form.is_valid():
        raise Http404("choose one of the organization's billing accounts")
    return form.cleaned_data["billing_account"]


@login_required
@require_GET
def offer_preview(request, name: str, offer_key: str):
    organization, _ = _org(request, name, manage=True)
    account = _account(request, organization, request.GET)
    version = offer_version_get(offer_key=offer_key)
    if version is None:
        raise Http404(f"no offer {offer_key!r}")
    now = page_now()
    cycle = dashboard_cycle(label="", now=now)
    preview = offer_accept_preview(account=account, version=version, cycle=cycle, now=now,
                                   currency=page_currency()) if cycle and _bills_fees() else None
    return render_page(request, "dashboards/offer_preview.html", {
        "organization": organization, "account": account, "version": version,
        "preview": preview, "action": "accept", "bills_fees": _bills_fees(), "now": now})


@login_required
@require_POST
def offer_accept(request, name: str, offer_key: str):
    """An org admin accepts (or switches to) an offer for one of the organization's
    accounts, after its preview: a POST without `confirm` changes nothing."""
    organization, _ = _org(request, name, manage=True)
    form = OfferAcceptForm(request.POST, organization=organization)
    back = reverse("organization-offers", args=[organization.name])
    if not form.is_valid():
        messages.error(request, "Choose one of the organization's billing accounts.")
        return redirect(back)
    account = form.cleaned_data["billing_account"]
    if request.POST.get("confirm") != "yes":
        messages.info(request, NOT_CONFIRMED)
        return redirect(reverse("offer-preview", args=[organization.name, offer_key])
                        + f"?billing_account={account.pk}")
    try:
        entitlement = entitlement_accept(billing_account=account, offer_key=offer_key,
                                         now=page_now(), actor=request.user)
    except (ValidationError, Conflict) as error:
        messages.error(request, _reasons(error))
    else:
        messages.success(request, OFFER_ACCEPTED.format(
            account=account.name, offer=entitlement.offer_version,
            when=datetime_text(entitlement.start, provider_current().billing_timezone)))
    return redirect(back)


@login_required
@require_GET
def entitlement_end_confirm(request, name: str, entitlement_id: int):
    """What ending a plan now bills: its final proration, before asking."""
    organization, _ = _org(request, name, manage=True)
    entitlement = entitlement_of(organization=organization, entitlement_id=entitlement_id)
    now = page_now()
    cycle = dashboard_cycle(label="", now=now)
    preview = entitlement_end_preview(entitlement=entitlement, cycle=cycle, now=now,
                                      currency=page_currency()) if cycle and _bills_fees() else None
    return render_page(request, "dashboards/offer_preview.html", {
        "organization": organization, "account": entitlement.billing_account,
        "version": entitlement.offer_version, "entitlement": entitlement,
        "preview": preview, "action": "end", "bills_fees": _bills_fees(), "now": now})


@login_required
@require_POST
def entitlement_end_now(request, name: str, entitlement_id: int):
    organization, _ = _org(request, name, manage=True)
    entitlement = entitlement_of(organization=organization, entitlement_id=entitlement_id)
    if request.POST.get("confirm") != "yes":
        messages.info(request, NOT_CONFIRMED)
        return redirect("entitlement-end", organization.name, entitlement.pk)
    try:
        ended = entitlement_end(entitlement=entitlement, now=page_now(), actor=request.user)
    except (ValidationError, Conflict) as error:
        messages.error(request, _reasons(error))
    else:
        messages.success(request, OFFER_ENDED.format(
            offer=ended.offer_version, account=entitlement.billing_account.name,
            when=datetime_text(ended.end, provider_current().billing_timezone)))
    return redirect("organization-offers", organization.name)
