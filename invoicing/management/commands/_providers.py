"""Which providers an invoicing command works on."""

from django.core.management.base import CommandError

from tenancy.selectors import provider_get_by_slug, provider_list_active


def providers_from_options(options) -> list:
    if options.get("all"):
        return list(provider_list_active())
    slug = options.get("provider")
    if not slug:
        raise CommandError("name a provider with --provider <slug>, or use --all")
    provider = provider_get_by_slug(slug=slug)
    if provider is None:
        raise CommandError(f"no provider with slug {slug!r}")
    return [provider]
