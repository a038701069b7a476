"""API keys: shown once, stored hashed, scoped to one provider."""

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.api_keys import USER_NOT_FOUND, api_key_issue, api_key_revoke
from accounts.models import ApiKey
from tests.conftest import host_client, inside


def test_the_secret_is_not_stored_only_its_hash(alpha):
    with inside(alpha):
        issued = api_key_issue(username="alice", name="exporter")
        row = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.secret.startswith(f"tly_{row.prefix}_")
    assert row.key_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert issued.secret not in (row.key_hash, row.prefix, row.name)


def test_a_revoked_key_is_refused(alpha):
    with inside(alpha):
        issued = api_key_issue(username="alice", name="old")
        api_key_revoke(api_key=issued.api_key, now=timezone.now())
    response = host_client(alpha).get(
        "/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {issued.secret}"
    )
    assert response.status_code == 401


def test_a_key_for_an_unknown_user_is_refused_with_the_reason(alpha):
    with inside(alpha), pytest.raises(ValidationError) as refused:
        api_key_issue(username="mallory", name="x")
    assert refused.value.message_dict["user"] == [USER_NOT_FOUND.format(username="mallory")]


def test_command_prints_the_key_once_and_it_works(alpha, capsys):
    call_command("issue_api_key", "--provider", "alpha", "--user", "alice", "--name", "cli")
    out = capsys.readouterr().out
    key = next(line.split()[-1] for line in out.splitlines() if line.strip().startswith("key:"))
    assert "cannot be shown again" in out
    response = host_client(alpha).get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "nope", "--user", "alice", "--name", "x"], "no provider with slug 'nope'"),
        (["--provider", "alpha", "--user", "bob", "--name", "x"], "no user 'bob' in this provider"),
        (["--provider", "alpha", "--user", "alice", "--name", " "], "needs a name"),
    ],
)
def test_command_errors_say_what_is_wrong(alpha, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("issue_api_key", *args)
