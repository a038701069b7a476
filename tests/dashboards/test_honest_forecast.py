"""Honest numbers: the forecast a consumer reads on the dashboard is the upcoming
invoice's, to the cent, for every consumer of both demo providers (the chargeback demo
and the Datum-like one that sells offers, with metered usage, recurring and one-time
fees, free units and running time)."""

import re
from decimal import Decimal

from django.core.management import call_command

from accounts.models import BillingAccount
from tenancy.models import Provider
from tests.accounts.support import Api
from tests.conftest import host_client, inside, sign_in

FORECAST = re.compile(
    r'data-testid="upcoming-forecast" data-account="(\d+)">([^<]+)</span>')
KPI_FORECAST = re.compile(r'data-testid="forecast">([^<]+)</div>')


def _amount(text: str) -> Decimal:
    return Decimal("".join(ch for ch in text if ch.isdigit() or ch in ".-"))


def test_dashboard_forecast_equals_the_upcoming_invoice_for_every_demo_consumer(db):
    call_command("tally_demo")
    checked = 0
    for slug in ("demo", "datum"):
        provider = Provider.objects.get(slug=slug)
        api = Api(provider, "operator")
        page = host_client(provider)
        assert sign_in(page, "operator", "operator-demo")
        with inside(provider):
            accounts = list(BillingAccount.objects.select_related("organization")
                            .order_by("organization__name", "name"))
        by_org: dict[str, list[BillingAccount]] = {}
        for account in accounts:
            by_org.setdefault(account.organization.name, []).append(account)
        for org, org_accounts in by_org.items():
            html = page.get(f"/orgs/{org}/").content.decode()
            shown = {int(pk): _amount(text) for pk, text in FORECAST.findall(html)}
            forecasts = []
            for account in org_accounts:
                upcoming = api.get(f"/api/v1/billing-accounts/{account.pk}/upcoming-invoice")
                assert upcoming.status_code == 200
                data = upcoming.json()
                if data["status"] != "draft":
                    continue
                api_forecast = Decimal(data["forecast"]["amount"]
                                       if isinstance(data["forecast"], dict)
                                       else data["forecast"])
                assert shown[account.pk] == api_forecast, (slug, org, account.name)
                forecasts.append(api_forecast)
                checked += 1
            if forecasts:
                # The organization's KPI is the sum of its accounts' forecasts.
                assert _amount(KPI_FORECAST.search(html).group(1)) == sum(forecasts), org
    assert checked >= 5
