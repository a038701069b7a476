"""Writes to the billing calendar: cycles are created when something needs them."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction

from core.periods import month_containing, next_month
from cycles.models import BillingCycle
from tenancy.selectors import provider_current


def cycles_ensure(*, now: datetime) -> list[BillingCycle]:
    """Make sure the cycle containing `now` and the next one exist; safe to repeat.

    Months are computed in the provider's billing time zone, then stored in UTC.
    """
    provider = provider_current()
    zone = ZoneInfo(provider.billing_timezone)
    current = month_containing(now, provider.billing_timezone)
    following = next_month(current, provider.billing_timezone)
    cycles = []
    with transaction.atomic():
        for period in (current, following):
            cycle, _ = BillingCycle.objects.get_or_create(
                start=period.start,
                defaults={"end": period.end,
                          "label": period.start.astimezone(zone).strftime("%Y-%m")},
            )
            cycles.append(cycle)
    return cycles
