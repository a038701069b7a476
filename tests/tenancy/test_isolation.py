"""Two providers never see each other: ORM, HTTP, sessions, API keys, admin, cache."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from accounts.api_keys import api_key_issue
from cycles.models import BillingCycle
from tests.conftest import PASSWORD, host_client, inside, sign_in

User = get_user_model()


def test_rows_written_in_one_schema_are_invisible_in_the_other(alpha, beta):
    with inside(alpha):
        User.objects.create_user(username="only-in-alpha")
        assert User.objects.filter(username="only-in-alpha").exists()
    with inside(beta):
        assert not User.objects.filter(username="only-in-alpha").exists()
        assert set(User.objects.values_list("username", flat=True)) == {"bob"}


@pytest.mark.parametrize(
    ("host", "schema"), [("alpha.localhost", "alpha"), ("beta.localhost", "beta"),
                         ("localhost", "public")],
)
def test_each_host_is_served_from_its_own_schema(db, host, schema):
    from django.test import Client

    response = Client(HTTP_HOST=host).get("/healthz")
    assert response.status_code == 200
    assert response.json()["schema"] == schema


def test_an_unknown_host_answers_404_not_another_schema(db):
    from django.test import Client

    assert Client(HTTP_HOST="nobody.localhost").get("/healthz").status_code == 404


def test_admin_login_works_only_on_the_users_own_provider(alpha, beta):
    client = host_client(alpha)
    assert sign_in(client, "alice")
    response = client.get("/admin/auth/user/")
    assert response.status_code == 200
    assert b"alice" in response.content and b"bob" not in response.content

    other = host_client(beta)
    response = other.post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200  # the form again: alice does not exist on beta
    assert b"Please enter the correct username and password" in response.content


def test_a_session_from_one_provider_is_not_valid_on_another(alpha, beta):
    client = host_client(alpha)
    assert sign_in(client, "alice")
    session_cookie = client.cookies["sessionid"].value

    other = host_client(beta)
    other.cookies["sessionid"] = session_cookie
    response = other.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_an_api_key_works_on_its_provider_and_is_401_on_another(alpha, beta):
    with inside(alpha):
        issued = api_key_issue(username="alice", name="integration")
    header = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}

    ok = host_client(alpha).get("/api/v1/whoami", **header)
    assert ok.status_code == 200
    assert ok.json() == {"provider": "alpha", "username": "alice", "auth": "api_key"}

    refused = host_client(beta).get("/api/v1/whoami", **header)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "Invalid API key."


@pytest.mark.parametrize(
    "authorization", ["Bearer tly_nope_nope", "Bearer garbage", "Bearer tly__", ""],
)
def test_missing_or_malformed_keys_are_401_with_the_error_envelope(alpha, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = host_client(alpha).get("/api/v1/whoami", **headers)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


def test_the_platform_admin_shows_the_registry_not_provider_data(db, django_user_model):
    django_user_model.objects.create_superuser(username="root", password=PASSWORD)
    client = host_client(None)
    assert sign_in(client, "root")
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/tenancy/provider/" in index.content
    assert b"billingcycle" not in index.content and b"apikey" not in index.content
    assert client.get("/admin/invoicing/billingcycle/").status_code == 404


def test_provider_admins_do_not_see_the_registry(alpha, beta):
    """A provider's admin shows its own settings (billing/admin.py), never the registry."""
    client = host_client(alpha)
    assert sign_in(client, "alice")
    own = f"/admin/tenancy/provider/{alpha.pk}/change/"
    assert client.get("/admin/tenancy/provider/")["Location"] == own
    other = client.get(f"/admin/tenancy/provider/{beta.pk}/change/", follow=True)
    assert "Beta Cloud" not in other.content.decode()


def test_cache_keys_are_scoped_to_the_provider(alpha, beta):
    with inside(alpha):
        cache.set("spend-this-cycle", "alpha's secret", 30)
    with inside(beta):
        assert cache.get("spend-this-cycle") is None
    with inside(alpha):
        assert cache.get("spend-this-cycle") == "alpha's secret"
        cache.delete("spend-this-cycle")


def test_billing_cycles_of_one_provider_stay_in_its_schema(alpha, beta):
    from datetime import UTC, datetime

    from cycles.services import cycles_ensure

    with inside(alpha):
        BillingCycle.objects.all().delete()
        cycles_ensure(now=datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
        assert BillingCycle.objects.count() == 1
    with inside(beta):
        assert not BillingCycle.objects.filter(label="2026-11", start__hour=11).exists()
