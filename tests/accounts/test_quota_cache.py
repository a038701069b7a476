"""The entitlement check's cache (accounts/quota_cache.py) against real Redis and
PostgreSQL: every write a check reads bumps the provider's version, cached windows
stop at their instant, reservations stay exact through a Redis flush, and a check
without Redis reads PostgreSQL."""

import threading
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django_tenants.utils import tenant_context

from accounts import quota_cache
from accounts.entitlements import entitlement_accept, entitlement_end
from accounts.models import (
    ApiKey,
    BillingAccount,
    Entitlement,
    FeatureGrant,
    Organization,
    Project,
    ProjectAccountAssignment,
    QuotaCounter,
)
from accounts.projects import project_create, project_move
from accounts.quota import quota_check, quota_check_named, quota_release, quota_reserve
from catalog.models import Charge, Feature, Offer, OfferFeature, OfferVersion, PriceList, Service
from catalog.services.directory import feature_update
from catalog.services.features import feature_create, service_create
from catalog.services.offers import OfferContent, offer_create, offer_revise
from tests.conftest import inside
from tests.factories import make_org, make_project
from tests.offers_world import T0

LIMIT = 10
THREADS = 50
LATER = T0 + timedelta(days=1)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _version(schema: str):
    return _redis().get(f"tally:{schema}:quota:version")


@pytest.fixture(autouse=True)
def _fresh_cache():
    quota_cache.cache_clear()
    yield
    quota_cache.cache_clear()


def test_each_write_a_check_reads_bumps_the_version(alpha, no_cycles,
                                                    django_capture_on_commit_callbacks):
    """Services' writes (and a plain save, as an admin form makes) publish a new version
    once committed; never before."""
    with inside(alpha):
        schema = connection.schema_name
        writes = {
            "feature created": lambda: (service_create(key="v-dns", name="DNS"), feature_create(
                service_key="v-dns", key="v.zones", name="Zones", kind="quota",
                default_limit=Decimal(5))),
            "feature's limit changed": lambda: feature_update(key="v.zones",
                                                              default_limit="7"),
            "feature saved": lambda: Feature.objects.get(key="v.zones").save(),
            "offer created": lambda: offer_create(key="v-pro", name="Pro", now=T0, content=(
                OfferContent(services=["v-dns"], features=[{"feature": "v.zones"}]))),
            "offer revised": lambda: offer_revise(
                offer=Offer.objects.get(key="v-pro"), now=T0, content=OfferContent(
                    services=["v-dns"], features=[{"feature": "v.zones", "limit": "9"}])),
            "organization and project": lambda: make_project("v-web", make_org("v-org")),
            "project created": lambda: project_create(
                name="v-api", organization=Organization.objects.get(name="v-org"),
                actor=None, now=LATER),
            "entitlement accepted (grants)": lambda: entitlement_accept(
                billing_account=BillingAccount.objects.get(organization__name="v-org"),
                offer_key="v-pro", now=LATER),
            "project moved": lambda: project_move(
                project=Project.objects.get(name="v-web"),
                billing_account=BillingAccount.objects.create(
                    organization=Organization.objects.get(name="v-org"), name="Second"),
                effective_from=None, actor=None, now=LATER + timedelta(hours=1)),
            "entitlement ended": lambda: entitlement_end(
                entitlement=Entitlement.objects.get(offer_version__offer__key="v-pro"),
                now=LATER + timedelta(hours=2)),
            "grant deleted": lambda: FeatureGrant.objects.filter(
                feature__key="v.zones").delete(),
        }
        for what, write in writes.items():
            before = _version(schema)
            with django_capture_on_commit_callbacks(execute=False) as callbacks:
                write()
            assert _version(schema) == before, f"{what}: published before commit"
            for callback in callbacks:  # only the cache's: others would send mail, etc.
                if "quota_cache" in callback.__qualname__:
                    callback()
            assert _version(schema) != before, f"{what}: no new version"


@contextmanager
def _committed_world(provider, *, limit=LIMIT):
    """A quota feature, an offer granting it, an entitled organization's project:
    committed (the cache reads only committed data), deleted afterwards."""
    with tenant_context(provider):
        service_create(key="cache-dns", name="Cache DNS")
        feature_create(service_key="cache-dns", key="cache.zones", name="Zones", kind="quota",
                       default_limit=Decimal(limit))
        version = offer_create(key="cache-offer", name="Cache", now=T0, content=OfferContent(
            services=["cache-dns"], features=[{"feature": "cache.zones"}]))
        org = make_org("cache-org")
        project = make_project("cache-web", org, since=T0)
        entitlement_accept(billing_account=org.billing_accounts.get(),
                           offer_key="cache-offer", now=T0)
    try:
        yield project
    finally:
        with tenant_context(provider):
            QuotaCounter.objects.filter(feature__key="cache.zones").delete()
            FeatureGrant.objects.filter(feature__key="cache.zones").delete()
            Entitlement.objects.filter(offer_version=version).delete()
            OfferFeature.objects.filter(version=version).delete()
            Charge.objects.filter(price_list_id=version.price_list_id).delete()
            OfferVersion.objects.filter(pk=version.pk).delete()
            PriceList.objects.filter(pk=version.price_list_id).delete()
            Offer.objects.filter(key="cache-offer").delete()
            Feature.objects.filter(key="cache.zones").delete()
            Service.objects.filter(key="cache-dns").delete()
            ProjectAccountAssignment.objects.filter(project__organization=org).delete()
            Project.objects.filter(organization=org).delete()
            BillingAccount.objects.filter(organization=org).delete()
            Organization.objects.filter(pk=org.pk).delete()
        connection.set_schema_to_public()


def _check(project_name: str, now, quantity=None):
    return quota_check_named(project_name=project_name, feature_key="cache.zones", now=now,
                             visible=lambda _project: True, quantity=quantity)


def test_cached_windows_stop_at_their_instant(django_db_setup, alpha_committed,
                                             django_db_blocker):
    """Answered from the cache (no query), a scheduled move and an entitlement's end
    still take effect at their instant; a committed change is seen at once."""
    with django_db_blocker.unblock(), _committed_world(alpha_committed) as project:
        with tenant_context(alpha_committed):
            moved_at = LATER + timedelta(days=10)
            ends_at = LATER + timedelta(days=5)
            second = BillingAccount.objects.create(organization=project.organization,
                                                   name="Unentitled")
            project_move(project=project, billing_account=second, effective_from=moved_at,
                         actor=None, now=LATER)
            # The end written without a signal, then published: the cache has the window.
            Entitlement.objects.filter(offer_version__offer__key="cache-offer").update(
                end=LATER + timedelta(days=20))
            quota_cache._bump(connection.schema_name)
            first = _check("cache-web", LATER)
            assert (first.allowed, first.limit, first.used) == (True, Decimal(LIMIT), 0)
            with CaptureQueriesContext(connection) as queries:
                before_move = _check("cache-web", moved_at - timedelta(microseconds=1))
                after_move = _check("cache-web", moved_at)
            assert len(queries) == 0
            assert before_move.allowed and before_move.billing_account_id != second.pk
            assert (after_move.allowed, after_move.billing_account_id) == (False, second.pk)

            Entitlement.objects.filter(offer_version__offer__key="cache-offer").update(
                end=ends_at)
            quota_cache._bump(connection.schema_name)
            assert _check("cache-web", ends_at - timedelta(microseconds=1)).allowed
            with CaptureQueriesContext(connection) as queries:
                ended = _check("cache-web", ends_at)
            assert len(queries) == 0 and ended.reason == "not_entitled"
            # The database path says the same at the same instants.
            with transaction.atomic():  # in a transaction the cache stands aside
                assert quota_check(project=project, feature_key="cache.zones",
                                   now=ends_at).reason == "not_entitled"
                assert quota_check(project=project, feature_key="cache.zones",
                                   now=ends_at - timedelta(microseconds=1)).allowed

            feature_update(key="cache.zones", default_limit="3")  # no grant changes...
            FeatureGrant.objects.filter(feature__key="cache.zones").update(limit=3)
            quota_cache._bump(connection.schema_name)  # ...a bulk update publishes itself
            assert _check("cache-web", LATER).limit == Decimal(3)


def _reserve_concurrently(provider, project, count: int, *, flush_at: int | None = None):
    barrier = threading.Barrier(count)
    answers: list = []
    errors: list = []

    def reserve(n: int):
        try:
            with tenant_context(provider):
                barrier.wait(timeout=30)
                if n == flush_at:
                    _redis().flushdb()
                answers.append(quota_reserve(project=project, feature_key="cache.zones",
                                             quantity=Decimal(1), now=LATER))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return answers


def test_fifty_concurrent_reservations_of_ten_grant_ten_through_a_redis_flush(
        django_db_setup, alpha_committed, django_db_blocker):
    """Redis's counter gates, PostgreSQL records: 4 reserved, Redis flushed while 50
    more race for the remaining 6, and exactly 6 more are granted; the check then
    reads 10 used from a counter reseeded from PostgreSQL."""
    with django_db_blocker.unblock(), _committed_world(alpha_committed) as project:
        with tenant_context(alpha_committed):
            for _ in range(4):
                assert quota_reserve(project=project, feature_key="cache.zones",
                                     quantity=Decimal(1), now=LATER).allowed
            schema = connection.schema_name
            key = quota_cache.counter_key(schema, "billing_account", project.pk,
                                          project.organization.billing_accounts.get().pk,
                                          Feature.objects.get(key="cache.zones").pk)
            assert int(_redis().hget(key, "u")) == 4 * quota_cache.SCALE
        answers = _reserve_concurrently(alpha_committed, project, THREADS, flush_at=25)
        assert sum(a.allowed for a in answers) == LIMIT - 4
        assert {a.reason for a in answers if not a.allowed} == {"quota_exceeded"}
        with tenant_context(alpha_committed):
            assert QuotaCounter.objects.get(feature__key="cache.zones").used == LIMIT
            answer = _check("cache-web", LATER)
            assert (answer.allowed, answer.used, answer.remaining) == (False, LIMIT, 0)
            # A release is PostgreSQL's first; Redis's counter is reseeded from it.
            quota_release(project=project, feature_key="cache.zones", quantity=Decimal(3),
                          now=LATER)
            assert _check("cache-web", LATER).used == LIMIT - 3
            assert int(_redis().hget(key, "u")) == (LIMIT - 3) * quota_cache.SCALE


def test_fifty_concurrent_reservations_of_ten_grant_exactly_ten(
        django_db_setup, alpha_committed, django_db_blocker):
    with django_db_blocker.unblock(), _committed_world(alpha_committed) as project:
        answers = _reserve_concurrently(alpha_committed, project, THREADS)
        assert sum(a.allowed for a in answers) == LIMIT
        with tenant_context(alpha_committed):
            assert QuotaCounter.objects.get(feature__key="cache.zones").used == LIMIT
            assert _check("cache-web", LATER).remaining == 0


@override_settings(TALLY_QUOTA_REDIS_URL="redis://127.0.0.1:8629/0")  # nothing listens
def test_without_redis_checks_and_reservations_read_postgresql(
        django_db_setup, alpha_committed, django_db_blocker):
    from tests.accounts.support import Api

    with django_db_blocker.unblock(), _committed_world(alpha_committed, limit=2) as project:
        with tenant_context(alpha_committed):
            answer = _check("cache-web", LATER)
            assert (answer.allowed, answer.limit, answer.used) == (True, 2, 0)
            granted = [quota_reserve(project=project, feature_key="cache.zones",
                                     quantity=Decimal(1), now=LATER).allowed for _ in range(3)]
            assert granted == [True, True, False]
            assert _check("cache-web", LATER).used == 2
        api = Api(alpha_committed, "alice")
        try:
            response = api.post("/api/v1/entitlements/check",
                                {"project": "cache-web", "feature": "cache.zones"})
        finally:
            with tenant_context(alpha_committed):
                ApiKey.objects.filter(prefix=api.secret.split("_")[1]).delete()
        assert response.status_code == 200
        assert (response.json()["allowed"], response.json()["used"]) == (False, "2")
