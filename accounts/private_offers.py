"""Who a private offer is for: the organizations whose admins may accept it themselves."""

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Organization, PrivateOfferConsumer
from audit.context import records_actor
from catalog.models import Offer

OFFER_NOT_FOUND = "no offer {key!r}"
ORGANIZATION_UNKNOWN = "no organization {name!r}"


@records_actor()
def private_offer_consumers_set(*, offer_key: str, organization_names: list[str],
                                actor=None) -> list[str]:
    """Make the offer's audience exactly these organizations (the names, sorted). Those
    that already accepted it keep their entitlements when they leave the list."""
    names = sorted(set(organization_names))
    with transaction.atomic():
        offer = Offer.objects.select_for_update().filter(key=offer_key).first()
        if offer is None:
            raise ValidationError({"offer": [OFFER_NOT_FOUND.format(key=offer_key)]})
        organizations = {o.name: o for o in Organization.objects.filter(name__in=names)}
        unknown = [n for n in names if n not in organizations]
        if unknown:
            raise ValidationError({"organizations": [ORGANIZATION_UNKNOWN.format(name=n)
                                                     for n in unknown]})
        rows = PrivateOfferConsumer.objects.filter(offer=offer)
        rows.exclude(organization__name__in=names).delete()
        held = set(rows.values_list("organization__name", flat=True))
        PrivateOfferConsumer.objects.bulk_create(
            PrivateOfferConsumer(offer=offer, organization=organizations[n])
            for n in names if n not in held)
    return names


def private_offer_consumers(*, offer_key: str) -> list[str]:
    return sorted(PrivateOfferConsumer.objects.filter(offer__key=offer_key)
                  .values_list("organization__name", flat=True))


def offers_open_to(*, organization_id: int) -> list[str]:
    """The keys of the offers an organization's admins may accept: the public ones and the
    private ones made for it."""
    public = set(Offer.objects.filter(public=True).values_list("key", flat=True))
    private = set(PrivateOfferConsumer.objects.filter(organization_id=organization_id)
                  .values_list("offer__key", flat=True))
    return sorted(public | private)
