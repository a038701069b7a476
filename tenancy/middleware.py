"""Host routing: a provider's host serves its schema, the base domain the public one.

Every request names its provider by host, so the host -> provider lookup is the
hottest query Tally has (one per request, before any work). Each process keeps
what it found for `TALLY_PROVIDER_CACHE_SECONDS`: provider rows change only
through the platform admin, and a change there reaches every process within that
time (at once in the process that saved it). Unknown hosts are never cached, so
a provider created a moment ago is served on its first request.
"""

import copy
import threading
import time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from django_tenants.middleware.main import TenantMainMiddleware

from tenancy.models import Domain, Provider

UNKNOWN_HOST = "No provider is served on {host!r}."

_found: dict[str, tuple[float, Provider]] = {}
_clock = time.monotonic
_lock = threading.Lock()


def provider_cached(hostname: str) -> Provider | None:
    """A copy of the provider this process found for `hostname` and still trusts, else
    None (never a lookup): for billing/hot_check.py, which answers only what it is sure of."""
    hit = _found.get(hostname)
    if hit is None or hit[0] <= _clock():
        return None
    return copy.copy(hit[1])


def provider_cache_clear() -> None:
    with _lock:
        _found.clear()


@receiver(post_save, sender=Provider)
@receiver(post_delete, sender=Provider)
@receiver(post_save, sender=Domain)
@receiver(post_delete, sender=Domain)
def _forget_providers(**_kwargs) -> None:
    provider_cache_clear()


class ProviderMiddleware(TenantMainMiddleware):
    def get_tenant(self, domain_model, hostname):
        seconds = settings.TALLY_PROVIDER_CACHE_SECONDS
        now = _clock()
        hit = _found.get(hostname)
        if hit is not None and hit[0] > now:
            # A copy: the request may annotate its tenant (domain_url), others share the original.
            return copy.copy(hit[1])
        tenant = super().get_tenant(domain_model, hostname)
        if seconds > 0:
            with _lock:
                _found[hostname] = (now + seconds, tenant)
            tenant = copy.copy(tenant)
        return tenant

    def no_tenant_found(self, request, hostname):
        if hostname in settings.TALLY_PUBLIC_HOSTS:
            self.setup_url_routing(request=request, force_public=True)
            return None
        # Never fall back to another schema: an unknown host answers 404.
        raise Http404(UNKNOWN_HOST.format(host=hostname))


API_PREFIX = "/api/"


class ProviderTimezoneMiddleware:
    """Pages for people (the admin, the dashboards) show and read times in the provider's
    billing zone: Django's current time zone is that zone for the request. The API is
    left in UTC: machines read ISO 8601 instants with their offset ("...Z")."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = getattr(getattr(request, "tenant", None), "billing_timezone", None)
        if not zone or request.path.startswith(API_PREFIX):
            return self.get_response(request)
        with timezone.override(ZoneInfo(zone)):
            return self.get_response(request)


PROVIDER_ARCHIVED = ("This provider is archived: its data can be read, but nothing can be "
                     "changed. A platform admin can restore it to service.")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Signing in and out stays possible, so people can still read what was billed.
WRITES_ALLOWED_WHEN_ARCHIVED = ("/login/", "/logout/", "/admin/login/", "/admin/logout/")


class ArchivedProviderReadOnlyMiddleware:
    """An archived provider answers reads only: every write is refused with 409
    `provider_archived` (the API's error envelope for /api/, a plain page elsewhere)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tenant = getattr(request, "tenant", None)
        if (getattr(tenant, "archived_at", None) is None or request.method in SAFE_METHODS
                or request.path in WRITES_ALLOWED_WHEN_ARCHIVED):
            return self.get_response(request)
        if request.path.startswith(API_PREFIX):
            body = {"error": {"status": 409, "code": "provider_archived",
                              "message": PROVIDER_ARCHIVED}}
            return JsonResponse(body, status=409)
        return HttpResponse(PROVIDER_ARCHIVED, status=409, content_type="text/plain")
