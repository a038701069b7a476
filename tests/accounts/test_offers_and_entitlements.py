"""Offers: versions, what acceptance freezes, and content checks."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.entitlements import entitlement_accept, entitlement_end
from accounts.models import Entitlement, FeatureGrant
from audit.tracking import INSERT, UPDATE
from catalog.models import Charge, OfferVersion
from catalog.services.offers import OfferContent, offer_revise, offer_version_content
from core.errors import Conflict
from tests.audit.support import events_of
from tests.conftest import inside
from tests.offers_world import T0, datum_catalog, make_consumer

NEW_PRO = OfferContent(
    services=["dns"],
    charges=[{"model": "per_unit", "name": "DNS queries", "metric": "dns.queries",
              "unit_price": "0.000001"},
             {"model": "recurring", "name": "Pro plan", "amount": "35.00"}],
    features=[{"feature": "dns.zones", "limit": "50"}],
)


def test_a_version_no_one_accepted_is_edited_in_place(alpha, no_cycles):
    with inside(alpha):
        datum = datum_catalog()
        version = offer_revise(offer=datum.pro, content=NEW_PRO, now=T0)
        assert version.number == 1
        assert OfferVersion.objects.filter(offer=datum.pro).count() == 1
        assert sorted(Charge.objects.filter(price_list=version.price_list)
                      .values_list("name", "amount")) == [("DNS queries", None),
                                                           ("Pro plan", Decimal("35.0000000000"))]


def test_an_accepted_version_never_changes_a_change_makes_a_new_one(alpha, no_cycles):
    with inside(alpha):
        datum = datum_catalog()
        acme = make_consumer()
        first = entitlement_accept(billing_account=acme.account, offer_key="pro",
                                   now=T0 + timedelta(days=1))
        before = offer_version_content(first.offer_version)

        second = offer_revise(offer=datum.pro, content=NEW_PRO, now=T0 + timedelta(days=2),
                              notes="price change")
        assert second.number == 2 and second.pk != first.offer_version_id
        assert offer_version_content(first.offer_version) == before
        assert offer_version_content(second).charges[1]["amount"] == "35"
        # The same content again changes nothing.
        assert offer_revise(offer=datum.pro, content=NEW_PRO, now=T0 + timedelta(days=3)) == second
        assert OfferVersion.objects.filter(offer=datum.pro).count() == 2
        # The existing entitlement keeps its version; a new one gets the latest.
        other = make_consumer("globex")
        newer = entitlement_accept(billing_account=other.account, offer_key="pro",
                                   now=T0 + timedelta(days=4))
        assert Entitlement.objects.get(pk=first.pk).offer_version.number == 1
        assert newer.offer_version.number == 2


def test_accepting_switches_plans_and_grants_features_ending_revokes_them(alpha, no_cycles):
    with inside(alpha):
        datum_catalog()
        acme = make_consumer()
        free = entitlement_accept(billing_account=acme.account, offer_key="free",
                                  now=T0 + timedelta(days=1))
        grant = FeatureGrant.objects.get(billing_account=acme.account, feature__key="dns.zones")
        assert (grant.enabled, grant.limit) == (True, Decimal(1))

        pro = entitlement_accept(billing_account=acme.account, offer_key="pro",
                                 now=T0 + timedelta(days=5))
        assert Entitlement.objects.get(pk=free.pk).end == T0 + timedelta(days=5)
        grants = {g.feature.key: (g.enabled, g.limit) for g in
                  FeatureGrant.objects.filter(billing_account=acme.account)
                  .select_related("feature")}
        assert grants == {"dns.zones": (True, Decimal(25)), "dns.dnssec": (True, None),
                          "compute.vcpus": (True, Decimal(16))}
        with pytest.raises(Conflict):
            entitlement_accept(billing_account=acme.account, offer_key="pro",
                               now=T0 + timedelta(days=6))

        ended = entitlement_end(entitlement=pro, now=T0 + timedelta(days=9))
        again = entitlement_end(entitlement=pro, now=T0 + timedelta(days=10))
        assert ended.end == again.end == T0 + timedelta(days=9)
        assert not FeatureGrant.objects.filter(billing_account=acme.account,
                                               enabled=True).exists()
        assert [(e.pgh_label, e.end) for e in events_of(Entitlement, pro.pk)] == [
            (INSERT, None), (UPDATE, T0 + timedelta(days=9))]


def test_private_offers_need_a_fleet_admin_and_content_is_checked(alpha, no_cycles):
    with inside(alpha):
        datum = datum_catalog()
        acme = make_consumer()
        with pytest.raises(ValidationError) as error:
            entitlement_accept(billing_account=acme.account, offer_key="enterprise", now=T0)
        assert "private" in error.value.message_dict["offer"][0]
        assert entitlement_accept(billing_account=acme.account, offer_key="enterprise",
                                  now=T0, allow_private=True).offer_version.number == 1
        with pytest.raises(ValidationError) as error:
            offer_revise(offer=datum.free, now=T0, content=OfferContent(
                services=["dns"],
                charges=[{"model": "per_unit", "name": "x", "metric": "instance",
                          "unit_price": "1"},
                         {"model": "graduated", "name": "y", "metric": "dns.queries"}],
                features=[{"feature": "compute.vcpus"}]))
        assert set(error.value.message_dict) == {
            "charges[0].metric", "charges[1].tiers", "features[0].feature"}
