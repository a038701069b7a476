"""API keys: the key format, issuing a key (its secret shown once) and revoking it."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import ApiKey

KEY_PREFIX = "tly"
USER_NOT_FOUND = "no user {username!r} in this provider"
USER_INACTIVE = "user {username!r} is inactive"
NAME_REQUIRED = "an API key needs a name (what will use it?)"


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


def api_key_issue(*, username: str, name: str) -> IssuedApiKey:
    """Issue a key for a user of the current provider; the secret is returned once."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [NAME_REQUIRED]})
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"user": [USER_NOT_FOUND.format(username=username)]})
    if not user.is_active:
        raise ValidationError({"user": [USER_INACTIVE.format(username=username)]})
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32).replace('_', '-')}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            user=user, name=name, prefix=prefix, key_hash=hash_api_key(secret)
        )
    return IssuedApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey, now: datetime) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
