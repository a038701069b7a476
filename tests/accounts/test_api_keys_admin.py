"""API keys in the admin: issued with their secret shown once, listed with scope, expiry
and last use, revoked after a confirmation page; never edited."""

import re

from django.contrib.auth import get_user_model

from accounts.api_keys import api_key_issue
from accounts.models import ApiKey
from tests.conftest import host_client, inside, sign_in


def _admin(beta):
    client = host_client(beta)
    assert sign_in(client, "bob")
    return client


def test_an_operator_issues_a_key_and_sees_its_secret_once(beta):
    client = _admin(beta)
    with inside(beta):
        bob = get_user_model().objects.get(username="bob")
    assert client.get("/admin/accounts/apikey/add/").status_code == 200
    response = client.post("/admin/accounts/apikey/add/", {
        "user": bob.pk, "name": "collector", "scope": "ingest",
        "expires_at_0": "", "expires_at_1": ""}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    secret = re.search(r"(tly_[0-9a-f]+_[A-Za-z0-9-]+)", page).group(1)
    assert "never shown again" in page
    with inside(beta):
        key = ApiKey.objects.get(name="collector")
    assert key.scope == "ingest" and secret.startswith(f"tly_{key.prefix}_")
    listing = client.get("/admin/accounts/apikey/").content.decode()
    assert "collector" in listing and secret not in listing
    ingest = host_client(beta).post("/api/v1/usage/events", {"events": []},
                                    content_type="application/json",
                                    HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert ingest.status_code == 200
    detail = client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert 'name="_save"' not in detail  # a key is never edited


def test_revoking_asks_first_then_the_key_is_refused(beta):
    with inside(beta):
        issued = api_key_issue(username="bob", name="old script", scope="read")
    client = _admin(beta)
    selected = {"action": "revoke_selected", "_selected_action": [issued.api_key.pk]}
    confirm = client.post("/admin/accounts/apikey/", selected)
    assert confirm.status_code == 200
    assert "Yes, revoke them" in confirm.content.decode()
    with inside(beta):
        assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is None
    done = client.post("/admin/accounts/apikey/", {**selected, "confirmed": "yes"}, follow=True)
    assert "Revoked 1 API key(s)" in done.content.decode()
    refused = host_client(beta).get("/api/v1/whoami",
                                    HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert refused.status_code == 401
