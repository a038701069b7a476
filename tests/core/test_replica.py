"""Dashboards on a read replica (docs/scaling.md §3): their reads go through the replica's
own connection, in the schema of the provider whose host was asked, and fall back to the
primary when the replica is unreachable or behind.

The replica here is a second connection to the test database, as a separate session
whose transactions are read-only (`default_transaction_read_only`), so a write sent
there fails as it would on a hot standby. It is not configured with TEST MIRROR (that
only renames the alias's database, it is still a session of its own) nor through
DATABASE_REPLICA_URL (read once, when settings load, and connections to `default`
exist by then): the `replica` fixture adds the alias to `connections.settings`, which
is settings.DATABASES itself, for one test, and removes it and its connection after.

A separate session does not see what a test writes inside pytest-django's transaction,
so this module commits its data, in two providers of its own (cloned from the template
like any provider) that are dropped with their schemas when the module is done, as
tests/browser does with gamma: the session's alpha and beta stay as other tests expect.
"""

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from accounts.onboarding import provider_onboard
from core import replica as replica_module
from core.replica import PRIMARY_COOKIE, REPLICA, read_alias, replica_lag_seconds
from cycles.services import billing_start_set
from invoicing.models import Credit, Invoice, InvoiceStatus
from invoicing.rating_run import rating_run
from tenancy.models import Domain, Provider
from tests.conftest import PASSWORD, TEST_BILLING_START
from tests.dashboards.conftest import signed_in
from tests.dashboards.world import build_world, user
from tests.factories import make_org, make_project
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    make_cycle,
    run_resource,
    seed_catalog,
    seed_prices,
)

ROOT = Path(__file__).resolve().parents[2]
ALPHA, BETA = "rep-alpha", "rep-beta"
OCT = "?period=2020-10"
# Tables only the dashboards' own selectors read on these pages.
SELECTOR_TABLES = ('"invoicing_invoiceline"', '"invoicing_invoice"', '"invoicing_billingcycle"',
                   '"invoicing_credit"')

# (user, page, what it shows of alpha's data)
ALPHA_PAGES = [
    ("ops", "/operator/" + OCT, "mars-corp"),
    ("ops", "/operator/projects/" + OCT, "secret-lab"),
    ("carol", "/spend/" + OCT, "adventure"),
    ("carol", "/orgs/mars-corp/" + OCT, "lab-rat"),
    ("carol", "/orgs/mars-corp/invoices/", "<td>1–30 Sep 2020</td>"),
    ("carol", "/invoice/", "4 CPU, 16 GB Memory"),
    ("erin", "/projects/adventure/" + OCT, "500GB Virtual Disk"),
    ("chief", "/operator/credits/", "Rack power"),
]


def _drop_provider(slug: str) -> None:
    connection.set_schema_to_public()
    provider = Provider.objects.filter(slug=slug).first()
    if provider is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{provider.schema_name}" CASCADE')
    Domain.objects.filter(tenant=provider).delete()
    Provider.objects.filter(pk=provider.pk).delete()


def _beta_world() -> None:
    """A fleet of beta's own: one organization and project, October rated."""
    instance, disk = seed_catalog()
    seed_prices(instance, disk)
    project = make_project("beta-proj", make_org("beta-corp"))
    run_resource("i-beta", instance, "4cpu-16gb", project, since=OCT_START)
    rating_run(cycle=make_cycle(OCT_START, NOV_START, "2020-10"),
               now=datetime(2020, 10, 11, tzinfo=UTC))
    user("ops", "fleet_viewer")


@pytest.fixture(scope="module")
def providers(django_db_setup, django_db_blocker):
    """Two providers with committed data: alpha the dashboards' world (mars-corp,
    venus-corp, people in every role, one credit), beta a fleet of its own."""
    with django_db_blocker.unblock():
        made = {}
        try:
            for slug in (ALPHA, BETA):
                _drop_provider(slug)  # a run that died before its teardown
                made[slug] = provider_onboard(slug=slug, name=slug, admin_username="admin",
                                             admin_password=PASSWORD).provider
                with tenant_context(made[slug]):  # its world is dated in 2020
                    billing_start_set(month=TEST_BILLING_START)
            # No Celery worker here: closing September must not queue delivery tasks.
            with mock.patch("invoicing.delivery._queue_pipeline"):
                with tenant_context(made[ALPHA]):
                    world = build_world()
                    Credit.objects.create(
                        name="Rack power", description="Outage", scope="organization",
                        organization=world.mars, window_start=datetime(2020, 10, 2, tzinfo=UTC),
                        window_end=datetime(2020, 10, 2, 6, tzinfo=UTC))
                with tenant_context(made[BETA]):
                    _beta_world()
            connection.set_schema_to_public()
            yield made
        finally:
            for slug in (ALPHA, BETA):
                _drop_provider(slug)


def _closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def add_replica(django_db_blocker):
    """Adds the `replica` alias (a separate, read-only session on the test database,
    unless told otherwise) for one test; removes it and closes its connection after."""
    added = []

    def add(**overrides):
        primary = connections["default"].settings_dict
        options = {**primary["OPTIONS"], "options": "-c default_transaction_read_only=on"}
        connections.settings[REPLICA] = {**primary, "OPTIONS": options,
                                         "TEST": {**primary["TEST"]}, **overrides}
        added.append(REPLICA)
        replica_module.replica_health_forget()

    with django_db_blocker.unblock():
        yield add
        if added:
            connections[REPLICA].close()
            del connections[REPLICA]
            del connections.settings[REPLICA]
        replica_module.replica_health_forget()
        connection.set_schema_to_public()


@pytest.fixture
def replica(add_replica):
    add_replica()


def _get(client, path: str):
    """Renders a page, capturing what each connection ran: (response, replica, default)."""
    with CaptureQueriesContext(connections[REPLICA]) as on_replica, \
            CaptureQueriesContext(connection) as on_default:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response, [q["sql"] for q in on_replica], [q["sql"] for q in on_default]


def _reads_selector_tables(queries: list[str]) -> bool:
    return any(table in sql for sql in queries for table in SELECTOR_TABLES)


def _path(alpha, path: str) -> str:
    if path != "/invoice/":
        return path
    with tenant_context(alpha):
        invoice = Invoice.objects.filter(status=InvoiceStatus.FINALIZED,
                                         billing_account__organization__name="mars-corp",
                                         billing_account__name="Main").get()
    connection.set_schema_to_public()
    return f"/invoices/{invoice.pk}/"


@pytest.mark.parametrize(("username", "page", "shows"), ALPHA_PAGES)
def test_dashboard_pages_read_the_replica_in_their_providers_schema(
        providers, replica, username, page, shows):
    alpha, beta = providers[ALPHA], providers[BETA]
    # Beta's page first, on the same thread: the replica's session is in beta's schema
    # when alpha's request arrives.
    beta_page, beta_on_replica, _ = _get(signed_in(beta, "ops"), "/operator/" + OCT)
    assert "beta-corp" in beta_page.content.decode()
    assert "mars-corp" not in beta_page.content.decode()
    assert _reads_selector_tables(beta_on_replica)

    response, on_replica, on_default = _get(signed_in(alpha, username), _path(alpha, page))
    content = response.content.decode()
    assert shows in content
    assert "beta-corp" not in content and "beta-proj" not in content
    # The page's spend, cycles and invoices came through the replica's connection; the
    # primary answered the rest (session, roles, the provider, other apps' reads).
    assert _reads_selector_tables(on_replica)
    assert not _reads_selector_tables(on_default)


def test_an_unreachable_replica_leaves_the_pages_on_the_primary(providers, add_replica):
    add_replica(PORT=str(_closed_port()))
    client = signed_in(providers[ALPHA], "carol")
    with CaptureQueriesContext(connection) as on_default:
        response = client.get("/orgs/mars-corp/" + OCT)
    assert response.status_code == 200
    assert "lab-rat" in response.content.decode()
    assert _reads_selector_tables([q["sql"] for q in on_default])
    # Found down once, then trusted for a few seconds: the next page does not retry.
    with mock.patch.object(replica_module, "replica_lag_seconds") as measure:
        assert client.get("/orgs/mars-corp/" + OCT).status_code == 200
    measure.assert_not_called()


def test_a_replica_further_behind_than_allowed_leaves_the_pages_on_the_primary(
        providers, replica, settings):
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 30
    client = signed_in(providers[ALPHA], "ops")
    with mock.patch.object(replica_module, "replica_lag_seconds", return_value=45):
        response, on_replica, on_default = _get(client, "/operator/" + OCT)
    assert "mars-corp" in response.content.decode()
    assert on_replica == [] and _reads_selector_tables(on_default)


def test_the_health_check_runs_once_every_few_seconds_per_process(providers, replica):
    client = signed_in(providers[ALPHA], "ops")
    clock = [1000.0]
    with mock.patch.object(replica_module, "_clock", lambda: clock[0]), \
            mock.patch.object(replica_module, "replica_lag_seconds",
                              wraps=replica_lag_seconds) as measure:
        for _ in range(3):
            _get(client, "/operator/projects/" + OCT)
        clock[0] += replica_module.HEALTH_SECONDS + 1
        _get(client, "/operator/projects/" + OCT)
    assert measure.call_count == 2


def test_the_lag_measured_on_a_primary_is_zero(providers, replica):
    # The test database is a primary: no replay, no lag (pg_last_xact_replay_timestamp()
    # is NULL there). A real standby is shown by hand in docs/scaling.md.
    assert replica_lag_seconds() == 0


def test_a_person_who_just_wrote_reads_the_primary_for_a_while(providers, replica):
    client = signed_in(providers[ALPHA], "chief")
    response = client.post("/operator/credits/", {
        "name": "Rack 9 outage", "description": "Power loss", "scope": "organization",
        "organization": "venus-corp", "window_start": "2020-10-03T00:00",
        "window_end": "2020-10-03T02:00"})
    assert response.status_code == 302
    assert response.cookies[PRIMARY_COOKIE]["max-age"] > 0
    # The page after the change reads the primary, so it shows the change even if the
    # replica has not replayed it yet.
    listing, on_replica, on_default = _get(client, "/operator/credits/")
    assert "Rack 9 outage" in listing.content.decode()
    assert on_replica == []
    # Another person's pages still read the replica.
    _, on_replica, _ = _get(signed_in(providers[ALPHA], "ops"), "/operator/credits/")
    assert on_replica != []


def test_reads_outside_a_request_never_use_the_replica(providers, replica):
    # A Celery task or a command calling a dashboard selector: no request chose the
    # replica's schema, so the read stays on the primary.
    from dashboards.selectors.billing_cycles import cycle_choices

    assert read_alias() == "default"
    with tenant_context(providers[ALPHA]):
        cycles = cycle_choices(now=datetime(2020, 10, 20, tzinfo=UTC))
    assert [c.label for c in cycles] == ["2020-10", "2020-09"]
    assert {c._state.db for c in cycles} == {"default"}


def test_without_a_replica_nothing_changes(providers, django_db_blocker):
    with django_db_blocker.unblock():
        assert REPLICA not in connections.settings
        client = signed_in(providers[ALPHA], "ops")
        with CaptureQueriesContext(connection) as on_default:
            response = client.get("/operator/" + OCT)
        assert response.status_code == 200 and "mars-corp" in response.content.decode()
        assert _reads_selector_tables([q["sql"] for q in on_default])
        assert PRIMARY_COOKIE not in response.cookies
        assert REPLICA not in connections.settings


def _databases_with(**env: str) -> dict:
    """settings.DATABASES of a fresh process started with `env`."""
    code = ("import json; from django.conf import settings; "
            "print(json.dumps(settings.DATABASES, default=str))")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_REPLICA_")}
    environ.update(env, DJANGO_SETTINGS_MODULE="billing.settings.local")
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
                            cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_replica_alias_is_configured_from_its_url_only():
    assert set(_databases_with()) == {"default"}
    databases = _databases_with(
        DATABASE_URL="postgresql://tally@primary.internal:5432/tally",
        DATABASE_REPLICA_URL="postgresql://reader@standby.internal:5433/tally")
    replica, default = databases["replica"], databases["default"]
    assert (replica["HOST"], replica["PORT"], replica["USER"], replica["NAME"]) == (
        "standby.internal", 5433, "reader", "tally")
    # The schema-switching backend of `default`; tests point it at their own database.
    assert replica["ENGINE"] == default["ENGINE"] == "billing.db_backend"
    assert replica["TEST"]["MIRROR"] == "default"
    assert replica["OPTIONS"]["connect_timeout"] == 3
