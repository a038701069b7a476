"""Host routing: a provider's host serves its schema, the base domain the public one."""

from django.conf import settings
from django.http import Http404
from django_tenants.middleware.main import TenantMainMiddleware

UNKNOWN_HOST = "No provider is served on {host!r}."


class ProviderMiddleware(TenantMainMiddleware):
    def no_tenant_found(self, request, hostname):
        if hostname in settings.TALLY_PUBLIC_HOSTS:
            self.setup_url_routing(request=request, force_public=True)
            return None
        # Never fall back to another schema: an unknown host answers 404.
        raise Http404(UNKNOWN_HOST.format(host=hostname))
