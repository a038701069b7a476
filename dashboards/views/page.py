"""What every dashboard page shares: the fleet-only guard, the navigation, the layout's
context (roles, provider, currency, period picker), the request's clock and period, and
money as CSV text."""

from decimal import Decimal
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from accounts.permissions import request_access
from core.money import money_quantum
from core.timefmt import datetime_text, iso_instant
from cycles.clock import clock_now, sandbox_clock_get
from dashboards.selectors.billing_cycles import cycle_choices
from tenancy.selectors import provider_current

PRICE_LIST_URL = "/admin/catalog/price/"


def fleet_required(view):
    """Signed in with a fleet role (admin or viewer); anyone else gets 404."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request_access(request).sees_fleet:
            raise Http404("not a fleet page for this user")
        return view(request, *args, **kwargs)

    return wrapper


def _nav(request, access) -> list[dict]:
    path = request.path
    items = []
    if access.sees_fleet:
        items += [
            {"label": "Fleet", "url": reverse("operator"), "current": path == reverse("operator")},
            {"label": "Organizations", "url": reverse("operator-organizations"),
             "current": path.startswith(reverse("operator-organizations"))},
            {"label": "Projects", "url": reverse("operator-projects"),
             "current": path.startswith(reverse("operator-projects"))},
            {"label": "Credits", "url": reverse("operator-credits"),
             "current": path.startswith(reverse("operator-credits"))},
            {"label": "Late usage", "url": reverse("operator-late"),
             "current": path.startswith(reverse("operator-late"))},
            {"label": "Per user", "url": reverse("spend-users"),
             "current": path.startswith(reverse("spend-users"))},
        ]
    else:
        items.append({"label": "Spend", "url": reverse("spend"),
                      "current": path == reverse("spend")})
        items.append({"label": "Per user", "url": reverse("spend-users"),
                      "current": path.startswith(reverse("spend-users"))})
        items.append({"label": "Notifications", "url": reverse("notification-preferences"),
                      "current": path == reverse("notification-preferences")})
    if access.fleet_admin:
        items.append({"label": "Price list", "url": PRICE_LIST_URL, "current": False})
    return items


def render_page(request, template: str, context: dict, *, period_picker: bool = False):
    """`template` rendered with the layout's context (roles, navigation, provider and
    currency; the period picker's cycles when asked) under `context`."""
    access = request_access(request)
    provider = provider_current()
    base = {
        "access": access,
        "nav": _nav(request, access),
        "currency": provider.currency,
        "provider": provider,
        "sandbox_now": _sandbox_now(provider),
    }
    if period_picker:
        base["cycles"] = cycle_choices(now=page_now())
    return render(request, template, {**base, **context})


def _sandbox_now(provider) -> str:
    """A sandbox's clock as the banner shows it; empty for a live provider."""
    clock = sandbox_clock_get()
    return datetime_text(clock.frozen_time, provider.billing_timezone) if clock else ""


def page_now():
    return clock_now()


def period_param(request) -> str:
    return request.GET.get("period") or ""


def page_currency() -> str:
    return provider_current().currency


def instant_text(value) -> str:
    """An instant as CSV shows it: ISO 8601 with the offset of the provider's billing zone
    ("2026-11-01T00:00:00+01:00"), so a spreadsheet shows local time and keeps the exact
    instant. Empty for none."""
    return iso_instant(value, provider_current().billing_timezone) if value else ""


def money_text(value) -> str:
    """An amount as CSV and chart data show it: the currency's minor unit, no symbol."""
    return str(Decimal(value).quantize(money_quantum(page_currency())))
