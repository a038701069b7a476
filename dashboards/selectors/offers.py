"""The offers panel of an organization's page: the public offers, which of the
organization's billing accounts hold each, and its active entitlements."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from accounts.models import BillingAccount, Entitlement, Organization
from catalog.models import OfferVersion
from catalog.selectors import offer_current_versions
from core.replica import read_alias


@dataclass(frozen=True)
class OrganizationOffers:
    # Each version carries `active_accounts` (names of the accounts holding its offer)
    # and `open_accounts` (the accounts that may still accept it).
    offers: list[OfferVersion]
    entitlements: list[Entitlement]


def organization_offers(*, organization: Organization, accounts: list[BillingAccount],
                        now: datetime) -> OrganizationOffers:
    """The public offers, each marked with which of `accounts` (the organization's
    billing accounts) hold it, and the organization's active entitlements."""
    offers = public_offers()
    entitlements = entitlements_of(organization=organization, now=now)
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
