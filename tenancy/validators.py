"""Validation of a provider's registry fields; messages are constants tests import."""

import re
import zoneinfo

from django.core.exceptions import ValidationError

from core.currencies import ISO_4217

SLUG_INVALID = (
    "slug must be 2-40 characters: lowercase letters, digits and hyphens, starting with a "
    "letter (it becomes the host name <slug>.<base domain>)"
)
SLUG_RESERVED = "slug {slug!r} is reserved; choose another"
CURRENCY_INVALID = "currency {code!r} is not an ISO 4217 code (e.g. USD, EUR, GBP)"
TIMEZONE_INVALID = "time zone {name!r} is unknown: use an IANA name such as UTC or Europe/Berlin"

_SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
RESERVED_SLUGS = frozenset(
    {"public", "www", "admin", "api", "static", "media", "tally", "template", "information-schema"}
)


def validate_slug(slug: str) -> None:
    if not _SLUG_RE.match(slug or ""):
        raise ValidationError(SLUG_INVALID, code="invalid")
    if slug in RESERVED_SLUGS or slug.startswith("pg-"):
        raise ValidationError(SLUG_RESERVED.format(slug=slug), code="reserved")


def validate_currency(code: str) -> None:
    if code not in ISO_4217:
        raise ValidationError(CURRENCY_INVALID.format(code=code), code="invalid")


def validate_timezone(name: str) -> None:
    if name not in zoneinfo.available_timezones():
        raise ValidationError(TIMEZONE_INVALID.format(name=name), code="invalid")
