"""Issue 19: limits on who knocks. Each API key's ingestion, reads and other writes are
rate-limited by its provider's numbers (429 with Retry-After, in the envelope);
repeated failed sign-ins are locked out (django-axes); fleet admins can turn on TOTP
two-factor sign-in (django-otp)."""

import json
import time

from django.contrib.auth import get_user_model
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role
from tenancy.middleware import provider_cache_clear
from tenancy.models import Provider
from tests.accounts.support import Api
from tests.budgets.support import grant, make_user
from tests.conftest import PASSWORD, host_client, inside, sign_in


def limit(provider, **rates):
    Provider.objects.filter(pk=provider.pk).update(**rates)
    provider_cache_clear()


def test_reads_over_the_providers_limit_answer_429_with_retry_after(alpha):
    limit(alpha, api_rate_read=3)
    api, other = Api(alpha, "alice"), Api(alpha, "alice")
    answers = [api.get("/api/v1/whoami").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    refused = api.get("/api/v1/whoami")
    assert refused.json()["error"]["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    # Per key: another key of the same user still reads.
    assert other.get("/api/v1/whoami").status_code == 200


def test_ingestion_is_counted_apart_from_reads(alpha):
    limit(alpha, api_rate_ingest=2, api_rate_read=100)
    api = Api(alpha, "alice")
    batch = {"events": []}
    statuses = [api.post("/api/v1/usage/events", batch).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert api.get("/api/v1/whoami").status_code == 200


def test_a_limit_of_zero_means_no_limit(alpha):
    limit(alpha, api_rate_read=0)
    api = Api(alpha, "alice")
    assert {api.get("/api/v1/whoami").status_code for _ in range(20)} == {200}


def test_repeated_failed_sign_ins_are_locked_out(alpha):
    client = host_client(alpha)
    for _ in range(5):
        assert not sign_in(client, "alice", "wrong-password")
    # The right password no longer opens the door: locked out for the cool-off.
    locked = client.post("/admin/login/", {"username": "alice", "password": PASSWORD,
                                           "next": "/admin/"})
    assert locked.status_code == 429
    assert client.get("/admin/").status_code == 302  # still signed out
    # Someone else, from the same address, is not locked out.
    with inside(alpha):
        make_user("bob-viewer")
        grant(get_user_model().objects.get(username="bob-viewer"), Role.FLEET_VIEWER)
    assert sign_in(host_client(alpha), "bob-viewer")


def _code(device: TOTPDevice, *, ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def test_a_fleet_admin_turns_on_totp_and_then_signs_in_with_a_code(alpha):
    client = host_client(alpha)
    assert sign_in(client, "alice")
    page = client.get("/account/two-factor/")
    assert page.status_code == 200 and b"otpauth://totp/" in page.content
    with inside(alpha):
        device = TOTPDevice.objects.get(user__username="alice")
    turned_on = client.post("/account/two-factor/", {"action": "confirm",
                                                     "otp_token": _code(device)})
    assert turned_on.status_code == 302
    with inside(alpha):
        device.refresh_from_db()
    assert device.confirmed

    # A new session: the password alone no longer signs in, the code does.
    fresh = host_client(alpha)
    assert not sign_in(fresh, "alice")
    right = fresh.post("/admin/login/", {"username": "alice", "password": PASSWORD,
                                         "otp_token": _code(device, ahead=1),
                                         "next": "/admin/"})
    assert right.status_code == 302 and right["Location"] == "/admin/"
    assert fresh.get("/admin/").status_code == 200
    wrong = host_client(alpha).post("/admin/login/", {
        "username": "alice", "password": PASSWORD, "otp_token": "123456", "next": "/admin/"})
    assert wrong.status_code == 200 and b"authenticator" in wrong.content


def test_only_fleet_admins_have_the_two_factor_page(alpha):
    with inside(alpha):
        grant(make_user("viewer-2fa"), Role.FLEET_VIEWER)
    client = host_client(alpha)
    assert sign_in(client, "viewer-2fa")
    assert client.get("/account/two-factor/").status_code == 403


def test_the_schema_states_the_body_limit_and_429(alpha):
    schema = json.loads(host_client(alpha).get("/api/schema/?format=json").content)
    assert schema["info"]["x-max-body-bytes"] == 5 * 1024 * 1024
    ingest = schema["paths"]["/api/v1/usage/events"]["post"]["responses"]
    assert "Retry-After" in ingest["429"]["headers"]
    assert str(5 * 1024 * 1024) in ingest["413"]["description"]
