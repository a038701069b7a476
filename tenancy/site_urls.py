"""The URLs people reach a provider on, as this installation serves them (its scheme, its
port: `dev.py up`'s TALLY_PORT, or none behind a proxy), for commands to print."""

from django.conf import settings

from tenancy.models import Provider

DEFAULT_PORTS = {"http": "80", "https": "443"}


def host_url(host: str, path: str = "/") -> str:
    scheme = settings.TALLY_URL_SCHEME
    port = str(settings.TALLY_URL_PORT or "")
    suffix = f":{port}" if port and DEFAULT_PORTS.get(scheme) != port else ""
    return f"{scheme}://{host}{suffix}{path}"


def provider_primary_host(provider: Provider) -> str:
    domain = provider.domains.order_by("-is_primary", "domain").first()
    return domain.domain if domain else f"{provider.slug}.{settings.TALLY_BASE_DOMAIN}"


def provider_urls(provider: Provider) -> dict[str, str]:
    """{"admin", "dashboard", "api"} of the provider's primary host."""
    host = provider_primary_host(provider)
    return {"admin": host_url(host, "/admin/"), "dashboard": host_url(host, "/"),
            "api": host_url(host, "/api/docs/")}


def platform_admin_url() -> str:
    return host_url(settings.TALLY_BASE_DOMAIN, "/admin/")
