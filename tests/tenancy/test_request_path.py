"""The per-request path every API call pays: host -> provider, and the search_path.

Both are cut to the bone (tenancy/middleware.py, billing/db_backend/), and both
guard tenant isolation, so these tests check that the shortcuts never serve one
provider's request from another's schema.
"""

from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from accounts.api_keys import api_key_issue
from tenancy import middleware
from tenancy.middleware import ProviderMiddleware
from tenancy.models import Domain, Provider
from tests.conftest import host_client, inside


def _current_schema(conn=connection) -> str:
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


def _whoami(provider, secret):
    response = host_client(provider).get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200, response.content
    return response.json()["provider"]


def test_a_request_on_the_provider_already_selected_skips_the_set_but_never_the_switch(
        alpha, beta):
    with inside(alpha):
        alpha_key = api_key_issue(username="alice", name="a").secret
    with inside(beta):
        beta_key = api_key_issue(username="bob", name="b").secret
    assert _whoami(alpha, alpha_key) == "alpha"
    with CaptureQueriesContext(connection) as second:
        assert _whoami(alpha, alpha_key) == "alpha"
    with CaptureQueriesContext(connection) as switched:
        assert _whoami(beta, beta_key) == "beta"
    sets = [q["sql"] for q in second.captured_queries if q["sql"].startswith("SET search_path")]
    assert sets == []
    assert 'SET search_path = "beta","public"' in [q["sql"] for q in switched.captured_queries]
    # And a key of one provider is unknown on the other, whatever the connection held.
    response = host_client(alpha).get("/api/v1/whoami",
                                      HTTP_AUTHORIZATION=f"Bearer {beta_key}")
    assert response.status_code == 401


def test_a_search_path_undone_by_a_savepoint_rollback_is_set_again(alpha, beta):
    connection.set_tenant(alpha)
    assert _current_schema() == "alpha"
    try:
        with transaction.atomic():
            connection.set_tenant(beta)
            assert _current_schema() == "beta"  # the SET runs inside the savepoint
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    # PostgreSQL reverted the SET with the savepoint: the server is on alpha again.
    connection.set_tenant(beta)
    assert _current_schema() == "beta"


def test_a_search_path_undone_by_a_rollback_is_set_again(alpha, beta):
    other = connections.create_connection("default")
    try:
        other.set_tenant(alpha)
        assert _current_schema(other) == "alpha"
        other.set_autocommit(False)
        other.set_tenant(beta)
        assert _current_schema(other) == "beta"
        other.rollback()
        other.set_autocommit(True)
        other.set_tenant(beta)
        assert _current_schema(other) == "beta"
    finally:
        other.close()


def test_the_provider_lookup_is_served_from_memory_until_it_expires(alpha, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(middleware, "_clock", lambda: clock[0])
    finder = ProviderMiddleware(lambda request: None)
    assert finder.get_tenant(Domain, "alpha.localhost").name == "Alpha Cloud"
    # A change made by another process (no signal reaches this one) ...
    Provider.objects.filter(pk=alpha.pk).update(name="Alpha Renamed")
    with CaptureQueriesContext(connection) as cached:
        assert finder.get_tenant(Domain, "alpha.localhost").name == "Alpha Cloud"
    assert len(cached) == 0
    # ... is seen once the cached lookup is older than TALLY_PROVIDER_CACHE_SECONDS.
    clock[0] += 11
    assert finder.get_tenant(Domain, "alpha.localhost").name == "Alpha Renamed"


def test_a_change_saved_in_this_process_is_seen_at_once(alpha):
    finder = ProviderMiddleware(lambda request: None)
    assert finder.get_tenant(Domain, "alpha.localhost").currency == "EUR"
    alpha.currency = "NZD"
    alpha.save()
    assert finder.get_tenant(Domain, "alpha.localhost").currency == "NZD"
    Domain.objects.filter(domain="alpha.localhost").delete()
    assert host_client(alpha).get("/api/v1/whoami").status_code == 404


def test_an_unknown_host_is_not_remembered(alpha):
    assert host_client(None).get("/", HTTP_HOST="late.localhost").status_code == 404
    Domain.objects.create(domain="late.localhost", tenant=alpha, is_primary=False)
    with inside(alpha):
        secret = api_key_issue(username="alice", name="late").secret
    response = host_client(None).get("/api/v1/whoami", HTTP_HOST="late.localhost",
                                     HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert response.json()["provider"] == "alpha"
