"""Template filters of the dashboards: money with its currency, plain quantities, percents."""

from decimal import Decimal

from django import template
from django.utils.html import format_html

from core.money import money_quantum

register = template.Library()

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "CAD": "CA$",
           "AUD": "A$", "NZD": "NZ$"}


def money_text(value, currency: str) -> str:
    """"€1,234.50", "-$12.00": grouped thousands, the currency's minor unit, no float."""
    if value is None or value == "":
        return ""
    amount = Decimal(value).quantize(money_quantum(currency))
    sign = "-" if amount < 0 else ""
    digits = f"{abs(amount):,}"
    symbol = SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{digits}"
    return f"{sign}{digits} {currency}"


@register.filter
def money(value, currency: str = "USD") -> str:
    return money_text(value, currency)


@register.filter
def plain(value) -> str:
    """A quantity or rate without trailing zeros ("0.1", "669600")."""
    if value is None or value == "":
        return ""
    return format(Decimal(value).normalize(), "f")


@register.filter
def percent_of(value, whole) -> str:
    """`value` as a whole percentage of `whole` ("42"), "0" when `whole` is zero."""
    whole = abs(Decimal(whole or 0))
    if not whole:
        return "0"
    share = abs(Decimal(value or 0)) * 100 / whole
    return str(max(Decimal(0), min(Decimal(100), share)).quantize(Decimal(1)))


@register.filter
def percent_amount(whole, percent) -> Decimal:
    """`percent` % of `whole` (a budget's threshold as an amount), unrounded."""
    return Decimal(whole or 0) * Decimal(percent) / 100


@register.simple_tag
def status_badge(status: str, label: str | None = None):
    return format_html('<span class="badge badge-{}">{}</span>', status, label or status)


@register.simple_tag(takes_context=True)
def page_url(context, page_number, param: str = "page"):
    """The current URL with `param` set to `page_number` (other query parameters kept)."""
    query = context["request"].GET.copy()
    query[param] = page_number
    return "?" + query.urlencode()


@register.simple_tag(takes_context=True)
def csv_url(context):
    """The current URL asking for the table as CSV."""
    query = context["request"].GET.copy()
    query["format"] = "csv"
    for name in list(query):
        if name.endswith("page"):
            del query[name]
    return "?" + query.urlencode()
