"""API-key authentication from the process's cache (accounts/api_key_cache.py), on
committed data and real Redis: a repeated check costs no query at all, and a revoked
key, a deactivated user or an expired key is refused on the very next request."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from accounts import authentication, quota_cache
from accounts.access import Access
from accounts.api_keys import api_key_issue, api_key_revoke
from accounts.grants import role_grant, role_revoke
from accounts.models import ApiKey, Role
from accounts.users import user_set_active
from cycles.clock import real_now
from tests.accounts.support import Api, make_user
from tests.accounts.test_quota_cache import _committed_world
from tests.conftest import inside

FLEET = Access(user_id=None, fleet_admin=True)
CHECK = "/api/v1/entitlements/check"
BODY = {"project": "cache-web", "feature": "cache.zones"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    quota_cache.cache_clear()
    yield
    quota_cache.cache_clear()


@pytest.fixture
def committed_user(django_db_setup, alpha_committed, django_db_blocker):
    """A fleet viewer with a key, committed; deleted afterwards."""
    with django_db_blocker.unblock():
        with tenant_context(alpha_committed):
            user = make_user("cache-viewer")
            role_grant(user=user, role=Role.FLEET_VIEWER, granted_by=None, access=FLEET)
        try:
            yield user
        finally:
            with tenant_context(alpha_committed):
                ApiKey.objects.filter(user=user).delete()
                get_user_model().objects.filter(pk=user.pk).delete()
            connection.set_schema_to_public()


def test_a_repeated_check_costs_no_query_and_revocation_stops_the_next(
        alpha_committed, committed_user, django_db_blocker):
    with django_db_blocker.unblock(), _committed_world(alpha_committed):
        api = Api(alpha_committed, "cache-viewer")
        assert api.post(CHECK, BODY).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            again = api.post(CHECK, BODY)
        assert again.status_code == 200 and again.json()["allowed"] is True
        assert [q["sql"] for q in queries] == []

        with tenant_context(alpha_committed):
            api_key_revoke(api_key=ApiKey.objects.get(user=committed_user), now=real_now())
        assert api.post(CHECK, BODY).status_code == 401


def test_deactivation_and_expiry_refuse_the_next_request(
        alpha_committed, committed_user, django_db_blocker, monkeypatch):
    with django_db_blocker.unblock(), _committed_world(alpha_committed):
        api = Api(alpha_committed, "cache-viewer")
        assert api.post(CHECK, BODY).status_code == 200
        with tenant_context(alpha_committed):
            user_set_active(user=committed_user, active=False, actor=None)
        assert api.post(CHECK, BODY).status_code == 401
        with tenant_context(alpha_committed):
            user_set_active(user=committed_user, active=True, actor=None)
        assert api.post(CHECK, BODY).status_code == 200

        with tenant_context(alpha_committed):
            expiring = api_key_issue(username="cache-viewer", name="expiring",
                                     expires_at=real_now() + timedelta(hours=1)).secret
        headers = {"HTTP_AUTHORIZATION": f"Bearer {expiring}"}
        post = lambda: api.client.post(CHECK, BODY, content_type="application/json",  # noqa: E731
                                       **headers)
        assert post().status_code == 200
        # An hour later, with nothing written meanwhile: the cached key has expired.
        later = real_now() + timedelta(hours=1, seconds=1)
        monkeypatch.setattr(authentication, "real_now", lambda: later)
        assert post().status_code == 401


def test_each_write_authentication_reads_bumps_the_auth_version(
        alpha, django_capture_on_commit_callbacks):
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    with inside(alpha):
        key = f"tally:{connection.schema_name}:auth:version"
        user = make_user("v-user")  # a user saved
        writes = {
            "key issued": lambda: api_key_issue(username="v-user", name="k"),
            "key revoked": lambda: api_key_revoke(api_key=ApiKey.objects.get(user=user),
                                                  now=real_now()),
            "role granted": lambda: role_grant(user=user, role=Role.FLEET_VIEWER,
                                               granted_by=None, access=FLEET),
            "role revoked": lambda: role_revoke(user=user, role=Role.FLEET_VIEWER,
                                                revoked_by=None, access=FLEET),
            "user deactivated": lambda: user_set_active(user=user, active=False, actor=None),
            "user saved": lambda: user.save(),
            "key deleted": lambda: ApiKey.objects.filter(user=user).delete(),
        }
        for what, write in writes.items():
            before = client.get(key)
            with django_capture_on_commit_callbacks(execute=False) as callbacks:
                write()
            assert client.get(key) == before, f"{what}: published before commit"
            for callback in callbacks:
                if "quota_cache" in callback.__qualname__:
                    callback()
            assert client.get(key) != before, f"{what}: no new version"
