"""The offers panel of an organization's page: the public offers, which of the
organization's billing accounts hold each, and its active entitlements."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.http import Http404

from accounts.models import BillingAccount, Entitlement, Organization
from catalog.models import OfferVersion
from catalog.selectors import offer_current_versions, offer_version_get
from core.replica import read_alias


@dataclass(frozen=True)
class OrganizationOffers:
    # Each version carries `active_accounts` (names of the accounts holding its offer)
    # and `open_accounts` (the accounts that may still accept it).
    offers: list[OfferVersion]
    entitlements: list[Entitlement]


def organization_offers(*, organization: Organization, accounts: list[BillingAccount],
                        now: datetime) -> OrganizationOffers:
    """The public offers and the private ones the organization holds, each marked with
    which of `accounts` (the organization's billing accounts) hold it, and the
    organization's active entitlements."""
    entitlements = entitlements_of(organization=organization, now=now)
    offers = public_offers()
    # Private offers meant for this consumer: those an operator gave its accounts.
    listed = {version.offer_id for version in offers}
    for entitlement in entitlements:
        offer = entitlement.offer_version.offer
        if not offer.public and offer.pk not in listed:
            listed.add(offer.pk)
            offers.append(offer_version_get(offer_key=offer.key,
                                            number=entitlement.offer_version.number))
    holders: dict[int, set[int]] = {}
    for entitlement in entitlements:
        holders.setdefault(entitlement.offer_version.offer_id, set()).add(
            entitlement.billing_account_id)
    for version in offers:
        held = holders.get(version.offer_id, set())
        version.active_accounts = [a.name for a in accounts if a.pk in held]
        version.open_accounts = [a for a in accounts if a.pk not in held]
    return OrganizationOffers(offers=offers, entitlements=entitlements)


def public_offers() -> list[OfferVersion]:
    return offer_current_versions(include_private=False)


def entitlements_of(*, organization: Organization, now: datetime) -> list[Entitlement]:
    """The organization's active entitlements (one query)."""
    return list(
        Entitlement.objects.using(read_alias()).filter(
            Q(end__isnull=True) | Q(end__gt=now), billing_account__organization=organization,
            start__lte=now,
        ).select_related("billing_account", "offer_version__offer").order_by(
            "billing_account__name", "start")
    )


def entitlement_of(*, organization: Organization, entitlement_id: int) -> Entitlement:
    """One entitlement of the organization's accounts; Http404 otherwise."""
    entitlement = Entitlement.objects.select_related(
        "billing_account", "offer_version__offer").filter(
        pk=entitlement_id, billing_account__organization=organization).first()
    if entitlement is None:
        raise Http404(f"no entitlement {entitlement_id}")
    return entitlement
