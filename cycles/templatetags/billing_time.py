"""Dates in templates, in the provider's billing zone and naming it (core/timefmt.py).

    {% load billing_time %}
    {{ invoice.issued_at|local_date }}        6 Dec 2026 (Europe/Berlin)
    {{ invoice.rated_at|local_datetime }}     6 Dec 2026, 14:05 (Europe/Berlin)
    {{ cycle|period }}                        1–30 Nov 2026 (Europe/Berlin)
    {{ cycle.end|through }}                   30 Nov 2026 (Europe/Berlin)
    {% period_of line.period_start line.period_end %}
    {{ t|local_datetime:"bare" }}             without the zone (a table whose header names it)
    {% billing_zone %}                        Europe/Berlin

Works wherever a provider is current: a page on its host, a task rendering a PDF or an
email in its schema.
"""

from django import template

from core.timefmt import date_text, datetime_text, last_day_text, period_text
from tenancy.selectors import provider_current

register = template.Library()
BARE = "bare"


def _zone() -> str:
    return provider_current().billing_timezone


@register.simple_tag
def billing_zone() -> str:
    return _zone()


@register.filter
def local_date(value, style: str = "") -> str:
    if not value:
        return ""
    return date_text(value, _zone(), named=style != BARE)


@register.filter
def local_datetime(value, style: str = "") -> str:
    if not value:
        return ""
    return datetime_text(value, _zone(), named=style != BARE)


@register.filter
def through(end, style: str = "") -> str:
    """The last day of a half-open period that ends at `end` (inclusive)."""
    if not end:
        return ""
    return last_day_text(end, _zone(), named=style != BARE)


@register.filter
def period(value, style: str = "") -> str:
    """A cycle (or anything with `start` and `end`): its half-open period."""
    if value is None:
        return ""
    return period_text(value.start, value.end, _zone(), named=style != BARE)


@register.simple_tag
def period_of(start, end, style: str = "") -> str:
    if not start or not end:
        return ""
    return period_text(start, end, _zone(), named=style != BARE)
