"""What the provider lifecycle commands share: finding the provider named by slug."""

from django.core.management.base import CommandError

from tenancy.models import Provider
from tenancy.selectors import provider_get_by_slug

NO_SUCH_PROVIDER = "no provider with slug {slug!r}"


def provider_named(slug: str) -> Provider:
    provider = provider_get_by_slug(slug=slug)
    if provider is None:
        raise CommandError(NO_SUCH_PROVIDER.format(slug=slug))
    return provider
