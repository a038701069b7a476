"""Per-API-key rate limits: each key's ingestion, reads and other writes are counted
apart, against the numbers its provider sets (tenancy.Provider.api_rate_*, requests per
minute; 0 means no limit). Over the limit: 429 in the error envelope, with
`Retry-After` (DRF's throttling, counted in the shared cache, so every web process
counts together). A signed-in person without a key is counted per user."""

from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey
from tenancy.selectors import provider_current

INGEST, READ, WRITE = "ingest", "read", "write"
_RATE_FIELDS = {INGEST: "api_rate_ingest", READ: "api_rate_read", WRITE: "api_rate_write"}


def request_kind(request, view) -> str:
    """ingest for views that say so (`throttle_scope = "ingest"`), else read or write."""
    if getattr(view, "throttle_scope", None) == INGEST:
        return INGEST
    return READ if request.method in SAFE_METHODS else WRITE


class ApiKeyRateThrottle(SimpleRateThrottle):
    cache_format = "throttle:%(scope)s:%(ident)s"

    def __init__(self):
        # The rate is the provider's, known only once the request is routed.
        self.rate = None
        self.num_requests, self.duration = None, 60

    def allow_request(self, request, view):
        self.scope = request_kind(request, view)
        try:
            per_minute = getattr(provider_current(), _RATE_FIELDS[self.scope])
        except RuntimeError:  # the public schema's host: no API keys there
            return True
        if not per_minute:
            return True
        self.rate = f"{per_minute}/min"
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None  # refused by authentication anyway
        return self.cache_format % {"scope": self.scope, "ident": ident}
