"""Entitlement and quota checks: answers, reservations, and a limit that holds under
concurrent reservations from real threads on committed data."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from accounts.entitlements import entitlement_accept, entitlement_end
from accounts.models import (
    BillingAccount,
    Entitlement,
    FeatureGrant,
    Organization,
    Project,
    ProjectAccountAssignment,
    QuotaCounter,
)
from accounts.quota import quota_check, quota_release, quota_reserve
from catalog.models import Charge, Feature, Offer, OfferFeature, OfferVersion, PriceList, Service
from catalog.services.features import feature_create, service_create
from catalog.services.offers import OfferContent, offer_create
from core.errors import Conflict
from tests.conftest import inside
from tests.factories import make_org, make_project
from tests.offers_world import T0, datum_catalog, make_consumer


def test_checks_say_why_and_what_remains(alpha, no_cycles):
    with inside(alpha):
        datum_catalog()
        acme = make_consumer()
        now = T0 + timedelta(days=1)
        answer = quota_check(project=acme.project, feature_key="dns.zones", now=now)
        assert (answer.allowed, answer.reason) == (False, "not_entitled")
        assert quota_check(project=acme.project, feature_key="nope", now=now).reason == (
            "unknown_feature")

        entitlement_accept(billing_account=acme.account, offer_key="pro", now=now)
        later = now + timedelta(hours=1)
        answer = quota_check(project=acme.project, feature_key="dns.zones", now=later,
                             quantity=Decimal(3))
        assert (answer.allowed, answer.limit, answer.used, answer.remaining) == (
            True, Decimal(25), Decimal(0), Decimal(25))
        flag = quota_check(project=acme.project, feature_key="dns.dnssec", now=later)
        assert (flag.allowed, flag.kind, flag.limit) == (True, "flag", None)

        reserved = quota_reserve(project=acme.project, feature_key="dns.zones",
                                 quantity=Decimal(20), now=later)
        assert (reserved.allowed, reserved.used, reserved.remaining) == (
            True, Decimal(20), Decimal(5))
        refused = quota_reserve(project=acme.project, feature_key="dns.zones",
                                quantity=Decimal(6), now=later)
        assert (refused.allowed, refused.reason, refused.remaining) == (
            False, "quota_exceeded", Decimal(5))
        released = quota_release(project=acme.project, feature_key="dns.zones",
                                 quantity=Decimal(15), now=later)
        assert released.used == Decimal(5)
        with pytest.raises(Conflict):
            quota_release(project=acme.project, feature_key="dns.zones", quantity=Decimal(6),
                          now=later)
        # A project-scoped quota counts per project.
        vcpus = quota_reserve(project=acme.project, feature_key="compute.vcpus",
                              quantity=Decimal(16), now=later)
        assert vcpus.allowed and QuotaCounter.objects.get(
            project=acme.project, feature__key="compute.vcpus").used == Decimal(16)

        # The project's organization never had a grant for another account's project.
        other = make_project("acme-batch", acme.org)
        assert quota_check(project=other, feature_key="dns.zones", now=later).remaining == (
            Decimal(20))
        entitlement_end(entitlement=Entitlement.objects.get(billing_account=acme.account),
                        now=later + timedelta(hours=1))
        assert quota_check(project=acme.project, feature_key="dns.zones",
                           now=later + timedelta(hours=2)).reason == "not_entitled"


LIMIT = 10
THREADS = 50


def test_concurrent_reservations_never_exceed_the_limit(django_db_setup, alpha_committed,
                                                      django_db_blocker):
    """Real threads, each with its own connection, on committed data (cleaned up after)."""
    with django_db_blocker.unblock():
        with tenant_context(alpha_committed):
            service_create(key="race-dns", name="Race DNS")
            feature_create(service_key="race-dns", key="race.zones", name="Zones",
                           kind="quota", default_limit=Decimal(LIMIT))
            version = offer_create(key="race-offer", name="Race", now=T0, content=OfferContent(
                services=["race-dns"], features=[{"feature": "race.zones"}]))
            org = make_org("race-org")
            project = make_project("race-web", org)
            entitlement_accept(billing_account=org.billing_accounts.get(),
                               offer_key="race-offer", now=T0)
        try:
            barrier = threading.Barrier(THREADS)
            answers: list = []
            errors: list = []

            def reserve():
                try:
                    with tenant_context(alpha_committed):
                        barrier.wait(timeout=30)
                        answers.append(quota_reserve(
                            project=project, feature_key="race.zones", quantity=Decimal(1),
                            now=T0 + timedelta(days=1)))
                except Exception as error:  # noqa: BLE001 - reported below
                    errors.append(error)
                finally:
                    connection.close()

            threads = [threading.Thread(target=reserve) for _ in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert errors == []
            assert sum(a.allowed for a in answers) == LIMIT
            assert {a.reason for a in answers if not a.allowed} == {"quota_exceeded"}
            with tenant_context(alpha_committed):
                assert QuotaCounter.objects.get(feature__key="race.zones").used == LIMIT
        finally:
            with tenant_context(alpha_committed):
                QuotaCounter.objects.filter(feature__key="race.zones").delete()
                FeatureGrant.objects.filter(feature__key="race.zones").delete()
                Entitlement.objects.filter(offer_version=version).delete()
                OfferFeature.objects.filter(version=version).delete()
                Charge.objects.filter(price_list_id=version.price_list_id).delete()
                OfferVersion.objects.filter(pk=version.pk).delete()
                PriceList.objects.filter(pk=version.price_list_id).delete()
                Offer.objects.filter(key="race-offer").delete()
                Feature.objects.filter(key="race.zones").delete()
                Service.objects.filter(key="race-dns").delete()
                ProjectAccountAssignment.objects.filter(project=project).delete()
                Project.objects.filter(pk=project.pk).delete()
                BillingAccount.objects.filter(organization=org).delete()
                Organization.objects.filter(pk=org.pk).delete()
            connection.set_schema_to_public()


def test_the_check_by_name_answers_as_the_check_of_the_project(alpha, no_cycles):
    """The API's one-round-trip check (project found in the same query) gives the
    answers quota_check gives, and nothing for a project unknown or out of sight."""
    from accounts.quota import quota_check_named

    with inside(alpha):
        datum_catalog()
        acme = make_consumer()
        lonely = make_project("acme-lonely", acme.org)
        now = T0 + timedelta(days=1)
        entitlement_accept(billing_account=acme.account, offer_key="pro", now=now)
        later = now + timedelta(hours=1)
        quota_reserve(project=acme.project, feature_key="compute.vcpus", quantity=Decimal(4),
                      now=later)
        for project in (acme.project, lonely):
            for feature, quantity in (("dns.zones", Decimal(3)), ("dns.zones", None),
                                      ("dns.dnssec", None), ("compute.vcpus", Decimal(1)),
                                      ("nope", None)):
                for at in (now - timedelta(days=400), later):
                    named = quota_check_named(project_name=project.name, feature_key=feature,
                                              now=at, quantity=quantity, visible=lambda p: True)
                    assert named == quota_check(project=project, feature_key=feature, now=at,
                                                quantity=quantity), (project, feature, at)
        seen = []
        hidden = quota_check_named(project_name=acme.project.name, feature_key="dns.zones",
                                   now=later, visible=lambda p: seen.append(p) or False)
        assert hidden is None
        assert [(p.pk, p.organization_id) for p in seen] == [(acme.project.pk, acme.org.pk)]
        assert quota_check_named(project_name="no-such-project", feature_key="dns.zones",
                                 now=later, visible=lambda p: True) is None
