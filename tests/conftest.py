"""Shared fixtures: two providers in a real PostgreSQL, and a real Celery worker.

The test database is built once per run: the public schema (dj-stripe's migrations
make this the slow part, about a minute), then two providers, each a migrated schema.
Tests run inside a transaction that is rolled back; the providers themselves are
committed for the whole session.
"""

import decimal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from accounts.onboarding import provider_onboard
from cycles.services import billing_start_set
from tenancy.models import Provider
from tenancy.selectors import provider_get_by_slug

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _trap_floats():
    """A float that sneaks into money arithmetic raises instead of rounding silently."""
    context = decimal.getcontext()
    previous = context.traps[decimal.FloatOperation]
    context.traps[decimal.FloatOperation] = True
    yield
    context.traps[decimal.FloatOperation] = previous


# The test providers bill from January 2000, so tests may date writes years back (the
# seed's October 2020 sample) without first moving each provider's billing start.
TEST_BILLING_START = "2000-01"


def _ensure_provider(slug: str, **fields) -> Provider:
    provider = provider_get_by_slug(slug=slug)
    if provider is None:
        provider = provider_onboard(slug=slug, admin_password=PASSWORD, **fields).provider
    if provider.billing_start is None:
        with tenant_context(provider):
            billing_start_set(month=TEST_BILLING_START)
    return provider


@pytest.fixture(scope="session")
def django_db_setup(
    request, django_test_environment, django_db_blocker, django_db_keepdb, django_db_createdb,
    django_db_modify_db_settings,
):
    """pytest-django's database setup, made unconditional: worker tests use committed
    data and no `db` fixture, yet still need the test database and its providers."""
    from django.test.utils import setup_databases, teardown_databases

    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        db_cfg = setup_databases(
            verbosity=request.config.option.verbose, interactive=False,
            aliases={"default"}, keepdb=keepdb,
        )
        _ensure_provider(
            "alpha", name="Alpha Cloud", admin_username="alice", currency="EUR",
            billing_timezone="Pacific/Auckland",
        )
        _ensure_provider("beta", name="Beta Cloud", admin_username="bob")
        connection.set_schema_to_public()
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            _end_other_sessions()
            teardown_databases(db_cfg, verbosity=request.config.option.verbose)


def _end_other_sessions() -> None:
    """Drop what still holds the test database (a live-server thread's connection, a
    worker killed mid-test): dropping the database would fail on them."""
    from django.db import connections

    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
    connections.close_all()


@pytest.fixture(autouse=True)
def _back_to_public():
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _forget_cached_providers():
    """Each test rolls back its provider changes, which no signal reports: start every
    test with an empty host -> provider cache."""
    from tenancy.middleware import provider_cache_clear

    provider_cache_clear()


@pytest.fixture
def alpha(db) -> Provider:
    return Provider.objects.get(slug="alpha")


@pytest.fixture
def beta(db) -> Provider:
    return Provider.objects.get(slug="beta")


@contextmanager
def inside(provider: Provider) -> Iterator[Provider]:
    """Run ORM calls in a provider's schema, as a request on its host would."""
    with tenant_context(provider):
        yield provider


def host_client(provider: Provider | None) -> Client:
    """An HTTP client whose requests arrive on the provider's host (or the public one)."""
    host = f"{provider.slug}.localhost" if provider else "localhost"
    return Client(HTTP_HOST=host)


@pytest.fixture
def alpha_committed(django_db_blocker) -> Provider:
    with django_db_blocker.unblock():
        return Provider.objects.get(slug="alpha")


@pytest.fixture
def beta_committed(django_db_blocker) -> Provider:
    with django_db_blocker.unblock():
        return Provider.objects.get(slug="beta")


def sign_in(client: Client, username: str, password: str = PASSWORD) -> bool:
    """Sign in through the login form, on the client's host, as a person would."""
    response = client.post("/admin/login/", {"username": username, "password": password,
                                              "next": "/admin/"})
    return response.status_code == 302 and response["Location"] == "/admin/"


# Fixtures shared across apps' tests, defined in their own modules: a real Celery
# worker and beat (tests/workers.py), and the world of a provider that sells offers
# (tests/offers_world.py), and a sandbox's own media directory (tests/cycles/sandbox.py).
# Imported here so every test directory sees them.
from tests.cycles.sandbox import own_media  # noqa: E402, F401
from tests.offers_world import no_cycles  # noqa: E402, F401
from tests.workers import celery_beat_process, celery_worker_process  # noqa: E402, F401
