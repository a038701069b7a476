"""API keys with scopes, expiry and revocation: what each key reaches, every endpoint of
the schema checked, and keys managed through the API."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import EndpointEnumerator

from accounts.api_keys import api_key_issue
from accounts.authentication import EXPIRED_KEY, REVOKED_KEY, ApiKeyAuthentication
from accounts.models import ApiKey, ApiKeyScope
from accounts.scopes import SCOPE_REFUSED
from tests.accounts.support import make_user
from tests.conftest import host_client, inside

INGEST_PATHS = {"/api/v1/usage/events", "/api/v1/resources/events", "/api/v1/otlp/v1/metrics"}


def _client(provider, secret: str):
    client = host_client(provider)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def _key(provider, scope: str, username: str = "alice", **fields) -> str:
    with inside(provider):
        return api_key_issue(username=username, name=f"{scope} key", scope=scope,
                             **fields).secret


def api_operations() -> list[tuple[str, str]]:
    """Every (method, path) of the API that authenticates API keys, from the URL conf (as
    the schema is built), each path parameter filled in with "1" (an int, a slug and a
    string alike). Endpoints that take no key at all (Stripe's signed webhook) are left
    out: no key reaches them, whatever its scope."""
    operations = set()
    for path, _regex, method, view in EndpointEnumerator().get_api_endpoints():
        if ApiKeyAuthentication not in view.cls.authentication_classes:
            continue
        if path.startswith("/api/v1/") or path.startswith("/api/schema"):
            operations.add((method, re.sub(r"\{[^}]+\}", "1", path)))
    return sorted(operations)


def test_the_list_of_operations_is_the_whole_api():
    operations = api_operations()
    assert len(operations) > 60
    assert ("POST", "/api/v1/usage/events") in operations
    assert ("PUT", "/api/v1/catalog") in operations
    assert ("POST", "/api/v1/api-keys/1/revoke") in operations


def test_an_ingest_key_is_refused_on_every_other_endpoint(alpha):
    client = _client(alpha, _key(alpha, ApiKeyScope.INGEST))
    refused = []
    for method, path in api_operations():
        if path in INGEST_PATHS:
            continue
        response = client.generic(method, path, "{}", content_type="application/json")
        reason = SCOPE_REFUSED.format(scope="ingest", method=method, path=path)
        # The schema view renders its refusal as OpenAPI, not JSON: the reason is in it.
        if response.status_code != 403 or reason not in response.content.decode():
            refused.append((method, path, response.status_code))
    assert refused == []


def test_an_ingest_key_sends_usage_and_lifecycle_events(alpha):
    client = _client(alpha, _key(alpha, ApiKeyScope.INGEST))
    for path in INGEST_PATHS:
        response = client.post(path, {"events": []}, content_type="application/json")
        assert response.status_code not in (401, 403), (path, response.content)


def test_a_read_key_reads_and_never_writes(alpha):
    client = _client(alpha, _key(alpha, ApiKeyScope.READ))
    assert client.get("/api/v1/catalog/regions").status_code == 200
    assert client.get("/api/v1/system/billing").status_code == 200
    created = client.post("/api/v1/catalog/regions", {"key": "mars", "name": "Mars"},
                          content_type="application/json")
    assert created.status_code == 403
    assert created.json()["error"]["message"] == SCOPE_REFUSED.format(
        scope="read", method="POST", path="/api/v1/catalog/regions")
    checked = client.post("/api/v1/entitlements/check", {}, content_type="application/json")
    assert checked.status_code != 403  # a check changes nothing: a read


def test_an_admin_key_does_what_its_users_roles_allow(alpha):
    with inside(alpha):
        make_user("carol")  # no role at all
    admin = _client(alpha, _key(alpha, ApiKeyScope.ADMIN))
    assert admin.post("/api/v1/catalog/regions", {"key": "mars", "name": "Mars"},
                      content_type="application/json").status_code == 201
    nobody = _client(alpha, _key(alpha, ApiKeyScope.ADMIN, username="carol"))
    assert nobody.post("/api/v1/catalog/regions", {"key": "venus", "name": "Venus"},
                       content_type="application/json").status_code == 404


def test_a_revoked_key_gets_401_with_the_reason(alpha):
    secret = _key(alpha, ApiKeyScope.ADMIN)
    client = _client(alpha, secret)
    assert client.get("/api/v1/whoami").status_code == 200
    with inside(alpha):
        key_id = ApiKey.objects.get(prefix=secret.split("_")[1]).pk
    assert client.post(f"/api/v1/api-keys/{key_id}/revoke").status_code == 200
    response = client.get("/api/v1/whoami")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == REVOKED_KEY


def test_an_expired_key_gets_401_with_the_reason(alpha):
    secret = _key(alpha, ApiKeyScope.READ,
                  expires_at=timezone.now() + timedelta(hours=1), now=timezone.now())
    client = _client(alpha, secret)
    assert client.get("/api/v1/whoami").status_code == 200
    with inside(alpha):
        ApiKey.objects.filter(prefix=secret.split("_")[1]).update(
            expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/whoami")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == EXPIRED_KEY


def test_keys_are_issued_listed_and_revoked_through_the_api_and_audited(alpha):
    admin = _client(alpha, _key(alpha, ApiKeyScope.ADMIN))
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    issued = admin.post("/api/v1/api-keys", {"name": "collector", "scope": "ingest",
                                             "expires_at": expires},
                        content_type="application/json")
    assert issued.status_code == 201, issued.content
    body = issued.json()
    assert body["secret"].startswith(f"tly_{body['prefix']}_")
    assert (body["scope"], body["name"], body["active"]) == ("ingest", "collector", True)
    listed = admin.get("/api/v1/api-keys").json()["results"]
    assert {k["name"] for k in listed} == {"admin key", "collector"}
    assert all("secret" not in k for k in listed)
    collector = _client(alpha, body["secret"])
    assert collector.get("/api/v1/whoami").status_code == 403  # ingest only
    revoked = admin.post(f"/api/v1/api-keys/{body['id']}/revoke")
    assert revoked.json()["active"] is False and revoked.json()["revoked_at"]
    assert collector.post("/api/v1/usage/events", {"events": []},
                          content_type="application/json").status_code == 401
    with inside(alpha):
        from accounts.models import ApiKeyEvent

        labels = list(ApiKeyEvent.objects.filter(pgh_obj_id=body["id"])
                      .order_by("pgh_id").values_list("pgh_label", flat=True))
    assert labels == ["insert", "update"]


def test_another_users_keys_are_not_found_and_may_not_be_issued(alpha):
    with inside(alpha):
        make_user("carol")
    carol = _client(alpha, _key(alpha, ApiKeyScope.ADMIN, username="carol"))
    alice_key = _key(alpha, ApiKeyScope.READ)
    with inside(alpha):
        alice_key_id = ApiKey.objects.get(prefix=alice_key.split("_")[1]).pk
    assert carol.get(f"/api/v1/api-keys/{alice_key_id}").status_code == 404
    assert carol.post(f"/api/v1/api-keys/{alice_key_id}/revoke").status_code == 404
    assert carol.post("/api/v1/api-keys", {"name": "x", "username": "alice"},
                      content_type="application/json").status_code == 403
    own = carol.post("/api/v1/api-keys", {"name": "mine", "scope": "read"},
                     content_type="application/json")
    assert own.status_code == 201 and own.json()["username"] == "carol"


def test_the_service_keeps_its_old_signature_and_defaults_to_admin(alpha):
    with inside(alpha):
        issued = api_key_issue(username="alice", name="old caller")
    assert issued.api_key.scope == ApiKeyScope.ADMIN and issued.api_key.expires_at is None


@pytest.mark.parametrize(("fields", "field"), [
    ({"scope": "root"}, "scope"),
    ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    ({"name": ""}, "name"),
])
def test_bad_key_requests_name_the_field(alpha, fields, field):
    admin = _client(alpha, _key(alpha, ApiKeyScope.ADMIN))
    response = admin.post("/api/v1/api-keys", {"name": "x", **fields},
                          content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
