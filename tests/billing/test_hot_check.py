"""The entitlement check's hot path (billing/hot_check.py) answers exactly as Django
and DRF would, or not at all: for every request of the matrix, what it answers has
the full path's status, body and headers, and every refusal (404, 400, 401, 403,
406, 409 archived, 429) is left to the full path, which gives it as before. On
committed data, real PostgreSQL and Redis (the cache reads committed rows only)."""

import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import tenant_context

from accounts import authentication, quota_cache
from accounts.access import Access
from accounts.api_keys import api_key_issue, api_key_revoke
from accounts.grants import role_grant
from accounts.models import ApiKey, ApiKeyScope, Role
from accounts.users import user_set_active
from billing.wsgi import application, django_application
from cycles.clock import real_now
from tenancy.middleware import provider_cache_clear
from tenancy.models import Provider
from tests.accounts.support import make_user
from tests.accounts.test_quota_cache import LIMIT, _committed_world

FLEET = Access(user_id=None, fleet_admin=True)
CHECK = "/api/v1/entitlements/check"
ALLOWED = {"project": "cache-web", "feature": "cache.zones", "quantity": "1"}
OVER = {"project": "cache-web", "feature": "cache.zones", "quantity": str(LIMIT + 1)}


@pytest.fixture(autouse=True)
def _fresh_cache():
    quota_cache.cache_clear()
    yield
    quota_cache.cache_clear()


@pytest.fixture
def keys(django_db_setup, alpha_committed, beta_committed, django_db_blocker):
    """Committed users and keys: admin, read and ingest scopes, a revoked one, one of an
    inactive user, one expiring, and one of the other provider."""
    with django_db_blocker.unblock():
        with tenant_context(alpha_committed):
            user = make_user("hot-viewer")
            role_grant(user=user, role=Role.FLEET_VIEWER, granted_by=None, access=FLEET)
            idle = make_user("hot-idle")
            role_grant(user=idle, role=Role.FLEET_VIEWER, granted_by=None, access=FLEET)
            found = {scope: api_key_issue(username="hot-viewer", name=scope, scope=scope).secret
                     for scope in (ApiKeyScope.ADMIN, ApiKeyScope.READ, ApiKeyScope.INGEST)}
            revoked = api_key_issue(username="hot-viewer", name="revoked")
            api_key_revoke(api_key=ApiKey.objects.get(pk=revoked.api_key.pk), now=real_now())
            found["revoked"] = revoked.secret
            found["inactive"] = api_key_issue(username="hot-idle", name="idle").secret
            user_set_active(user=idle, active=False, actor=None)
            found["expiring"] = api_key_issue(
                username="hot-viewer", name="expiring",
                expires_at=real_now() + timedelta(hours=1)).secret
            found["wrong"] = found[ApiKeyScope.ADMIN][:-4] + "abcd"
        with tenant_context(beta_committed):
            make_user("hot-other")
            role_grant(user=get_user_model().objects.get(username="hot-other"),
                       role=Role.FLEET_VIEWER, granted_by=None, access=FLEET)
            found["other"] = api_key_issue(username="hot-other", name="other").secret
        try:
            yield found
        finally:
            for provider, names in ((alpha_committed, ("hot-viewer", "hot-idle")),
                                    (beta_committed, ("hot-other",))):
                with tenant_context(provider):
                    users = get_user_model().objects.filter(username__in=names)
                    ApiKey.objects.filter(user__in=users).delete()
                    users.delete()
            connection.set_schema_to_public()


def _environ(secret, body, host="alpha.localhost", **extra) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {"REQUEST_METHOD": "POST", "PATH_INFO": CHECK, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": host, "REMOTE_ADDR": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {secret}", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw),
            "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0),
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
            **extra}


def _django(environ) -> tuple[int, bytes, dict]:
    started = {}
    body = b"".join(django_application(environ, lambda s, h, e=None: started.update(s=s, h=h)))
    return int(started["s"].split()[0]), body, dict(started["h"])


def _hot(environ) -> tuple[int, bytes, dict] | None:
    response = application._try(environ)
    if response is None:
        return None
    return response.status_code, response.content, dict(response.items())


def _both(secret, body, **extra):
    """(the hot path's answer or None, the full path's answer) to the same request."""
    return _hot(_environ(secret, body, **extra)), _django(_environ(secret, body, **extra))


def _archived(provider, when):
    Provider.objects.filter(pk=provider.pk).update(archived_at=when)
    provider_cache_clear()


def test_the_hot_path_answers_as_the_full_path_or_leaves_it(
        alpha_committed, keys, django_db_blocker, monkeypatch):
    with django_db_blocker.unblock(), _committed_world(alpha_committed):
        admin = keys[ApiKeyScope.ADMIN]
        # The first request of a key goes the full way (it records the key's last use
        # and finds the provider); the hot path takes the next ones.
        for secret in (admin, keys[ApiKeyScope.READ], keys["expiring"]):
            assert _django(_environ(secret, ALLOWED))[0] == 200
        answered = {
            "allowed": (admin, ALLOWED, {}),
            "denied, over the limit": (admin, OVER, {}),
            "no quantity": (admin, {"project": "cache-web", "feature": "cache.zones"}, {}),
            "a read-scoped key may ask": (keys[ApiKeyScope.READ], ALLOWED, {}),
            "a key that expires later": (keys["expiring"], ALLOWED, {}),
            "Accept: JSON": (admin, ALLOWED, {"HTTP_ACCEPT": "application/json"}),
        }
        for what, (secret, body, extra) in answered.items():
            hot, full = _both(secret, body, **extra)
            assert hot == full, what
            assert hot[0] == 200 and json.loads(hot[1])["project"] == "cache-web", what
        assert not json.loads(_hot(_environ(admin, OVER))[1])["allowed"]

        left = {
            "unknown project": (admin, {**ALLOWED, "project": "nowhere"}, {}, 404),
            "unknown feature": (admin, {**ALLOWED, "feature": "nothing"}, {}, None),
            "negative quantity": (admin, {**ALLOWED, "quantity": "-1"}, {}, 400),
            "missing feature": (admin, {"project": "cache-web"}, {}, 400),
            "control character": (admin, {**ALLOWED, "feature": "a\x00b"}, {}, 400),
            "not JSON": (admin, b"{nope", {}, 400),
            "wrong secret": (keys["wrong"], ALLOWED, {}, 401),
            "revoked key": (keys["revoked"], ALLOWED, {}, 401),
            "inactive user": (keys["inactive"], ALLOWED, {}, 401),
            "ingest scope": (keys[ApiKeyScope.INGEST], ALLOWED, {}, 403),
            "other provider's key": (keys["other"], ALLOWED, {}, 401),
            "no key": ("", ALLOWED, {"HTTP_AUTHORIZATION": ""}, None),
            "Accept: HTML": (admin, ALLOWED, {"HTTP_ACCEPT": "text/html"}, 406),
            "a query string": (admin, ALLOWED, {"QUERY_STRING": "format=json"}, 200),
            "a browser's cookie": (admin, ALLOWED, {"HTTP_COOKIE": "sessionid=x"}, 200),
            "form body": (admin, b"project=cache-web&feature=cache.zones",
                          {"CONTENT_TYPE": "application/x-www-form-urlencoded"}, 415),
            "unknown host": (admin, ALLOWED, {"HTTP_HOST": "nowhere.localhost"}, 404),
        }
        for what, (secret, body, extra, status) in left.items():
            hot, full = _both(secret, body, **extra)
            if hot is not None:  # answered only when it is the full path's answer
                assert hot == full and hot[0] == 200, what
            elif status is not None:
                assert full[0] == status, (what, full)
        for what in ("unknown project", "negative quantity", "wrong secret", "revoked key",
                     "inactive user", "ingest scope", "other provider's key", "unknown host"):
            secret, body, extra, _status = left[what]
            assert _hot(_environ(secret, body, **extra)) is None, what

        # An hour later the cached key has expired: refused by the full path.
        later = real_now() + timedelta(hours=1, seconds=1)
        monkeypatch.setattr(authentication, "real_now", lambda: later)
        hot, full = _both(keys["expiring"], ALLOWED)
        assert hot is None and full[0] == 401


def test_archived_and_throttled_are_left_to_the_full_path(
        alpha_committed, keys, django_db_blocker):
    admin = keys[ApiKeyScope.ADMIN]
    with django_db_blocker.unblock(), _committed_world(alpha_committed):
        rates = Provider.objects.filter(pk=alpha_committed.pk).values(
            "api_rate_write", "archived_at").get()
        try:
            assert _django(_environ(admin, ALLOWED))[0] == 200
            _archived(alpha_committed, real_now())
            assert _django(_environ(admin, ALLOWED))[0] == 409  # finds the provider again
            assert _hot(_environ(admin, ALLOWED)) is None
            _archived(alpha_committed, None)

            Provider.objects.filter(pk=alpha_committed.pk).update(api_rate_write=2)
            provider_cache_clear()
            quota_cache.cache_clear()
            from django.core.cache import cache
            cache.clear()  # the throttle's history
            first = _django(_environ(admin, ALLOWED))  # counted: 1 of 2
            assert first[0] == 200
            assert _hot(_environ(admin, ALLOWED))[0] == 200  # counted: 2 of 2
            assert _hot(_environ(admin, ALLOWED)) is None  # the third: not answered here
            throttled = _django(_environ(admin, ALLOWED))
            assert throttled[0] == 429
            assert json.loads(throttled[1])["error"]["status"] == 429
        finally:
            Provider.objects.filter(pk=alpha_committed.pk).update(**rates)
            provider_cache_clear()


def test_the_full_application_uses_it_and_falls_through(alpha_committed, keys,
                                                        django_db_blocker):
    """Through `billing.wsgi.application`, as gunicorn calls it: a body the hot path
    read is still there for Django."""
    admin = keys[ApiKeyScope.ADMIN]
    with django_db_blocker.unblock(), _committed_world(alpha_committed):
        for body, status in ((ALLOWED, 200), (ALLOWED, 200), ({"project": "cache-web"}, 400),
                             ({**ALLOWED, "project": "nowhere"}, 404)):
            started: list[str] = []
            out = b"".join(application(_environ(admin, body),
                                       lambda s, h, e=None, seen=started: seen.append(s)))
            assert int(started[0].split()[0]) == status, out
        assert Decimal(json.loads(_hot(_environ(admin, ALLOWED))[1])["limit"]) == LIMIT
