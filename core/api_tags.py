"""Each API operation's area (Catalog, Prices, Usage, ...): its tag in the OpenAPI schema
(core.api_schema) and, through accounts.policy, the object the role table guards.
Kept apart from core.api_schema so that permission classes import it without loading
the schema generator."""

import re

from django.conf import settings


def operation_tag(path: str, handler: type) -> str | None:
    """The area of an operation: the first rule of settings.TALLY_API_TAGS matching its
    path (`/api/v1/...`), else the tag of the app defining its handler."""
    for pattern, tag in settings.TALLY_API_TAGS:
        if re.search(pattern, path):
            return tag
    return settings.TALLY_API_APP_TAGS.get(handler.__module__.split(".", 1)[0])
