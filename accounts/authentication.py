"""API-key authentication for DRF: `Authorization: Bearer tly_<prefix>_<secret>`."""

import hmac
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiKey
from accounts.services import hash_api_key, split_api_key

INVALID_KEY = "Invalid API key."
# Writing last_used_at on every request would serialize hot endpoints on one row.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme not in (self.keyword, "Api-Key"):
            return None
        parts = split_api_key(secret.strip())
        if parts is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        api_key = (
            ApiKey.objects.select_related("user")
            .filter(prefix=parts[0], revoked_at__isnull=True)
            .first()
        )
        # Compare even when no row matched, so timing does not reveal prefixes.
        expected = api_key.key_hash if api_key else "0" * 64
        if not hmac.compare_digest(expected, hash_api_key(secret.strip())) or api_key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        if not api_key.user.is_active:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return api_key.user, api_key

    def authenticate_header(self, request):
        return self.keyword
