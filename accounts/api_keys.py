"""API keys: the key format, issuing a key (its secret shown once), scopes, expiry and
revocation.

A key acts as its user, with the user's roles, narrowed by its scope
(`accounts.scopes`): `ingest` sends usage and lifecycle events only, `read` only
reads, `admin` does whatever the user's roles allow. A revoked or expired key is
refused (401).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.api_key_cache import auth_cache_invalidate
from accounts.models import ApiKey, ApiKeyScope
from audit.context import records_actor

KEY_PREFIX = "tly"
USER_NOT_FOUND = "no user {username!r} in this provider"
USER_INACTIVE = "user {username!r} is inactive"
NAME_REQUIRED = "an API key needs a name (what will use it?)"
NAME_TOO_LONG = "at most 100 characters"
SCOPE_INVALID = "must be one of: " + ", ".join(ApiKeyScope.values)
EXPIRES_IN_PAST = "must be in the future"
EXPIRES_NAIVE = "must carry a UTC offset (e.g. 2027-01-01T00:00:00Z)"


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str  # the only time the full key exists outside its holder


def hash_api_key(secret: str) -> str:
    # Keys are 256-bit random: a fast hash is enough, no salt or stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(secret: str) -> tuple[str, str] | None:
    parts = secret.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _issue_errors(*, name: str, scope: str, expires_at: datetime | None,
                  now: datetime | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [NAME_REQUIRED]
    elif len(name) > 100:
        errors["name"] = [NAME_TOO_LONG]
    if scope not in ApiKeyScope.values:
        errors["scope"] = [SCOPE_INVALID]
    if expires_at is not None:
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            errors["expires_at"] = [EXPIRES_NAIVE]
        elif now is not None and expires_at <= now:
            errors["expires_at"] = [EXPIRES_IN_PAST]
    return errors


@records_actor()
def api_key_issue(*, username: str, name: str, scope: str = ApiKeyScope.ADMIN,
                  expires_at: datetime | None = None, now: datetime | None = None,
                  actor=None) -> IssuedApiKey:
    """Issue a key for a user of the current provider; the secret is returned once.

    `scope` defaults to `admin`, which narrows nothing: the key does what its user's
    roles allow, as every key did before scopes existed. Give a collector `ingest`
    and a reporting tool `read`. `expires_at` (aware) must be after `now` when both
    are given; None: the key never expires. `actor` is who issued it (None: a command
    or the user themself).
    """
    name = (name or "").strip()
    errors = _issue_errors(name=name, scope=scope, expires_at=expires_at, now=now)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        errors["user"] = [USER_NOT_FOUND.format(username=username)]
    elif not user.is_active:
        errors["user"] = [USER_INACTIVE.format(username=username)]
    if errors:
        raise ValidationError(errors)
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32).replace('_', '-')}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            user=user, name=name, prefix=prefix, key_hash=hash_api_key(secret),
            scope=scope, expires_at=expires_at,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
    return IssuedApiKey(api_key=api_key, secret=secret)


@records_actor()
def api_key_revoke(*, api_key: ApiKey, now: datetime, actor=None) -> bool:
    """Revoke the key from `now` on (401 from then on). True when this call revoked it;
    revoking a revoked key changes nothing."""
    with transaction.atomic():
        auth_cache_invalidate()  # a bulk update: no signal
        return bool(ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True)
                    .update(revoked_at=now))
