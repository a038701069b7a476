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
from django.http import Http404
from django.utils import timezone
from django_tenants.middleware.main import TenantMainMiddleware

from tenancy.models import Domain, Provider

UNKNOWN_HOST = "No provider is served on {host!r}."

_found: dict[str, tuple[float, Provider]] = {}
_clock = time.monotonic
_lock = threading.Lock()


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
