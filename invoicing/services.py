"""Writes for invoicing: billing cycles."""

from datetime import datetime

from django.db import transaction

from billing.periods import month_containing, next_month
from invoicing.models import BillingCycle
from tenancy.selectors import provider_current


def cycles_ensure(*, now: datetime) -> list[BillingCycle]:
    """Make sure the cycle containing `now` and the next one exist; safe to repeat.

    Months are computed in the provider's billing time zone, then stored in UTC.
    """
    provider = provider_current()
    current = month_containing(now, provider.billing_timezone)
    following = next_month(current, provider.billing_timezone)
    cycles = []
    with transaction.atomic():
        for period in (current, following):
            local_start = period.start.astimezone(_zone(provider.billing_timezone))
            cycle, _ = BillingCycle.objects.get_or_create(
                start=period.start,
                defaults={"end": period.end, "label": local_start.strftime("%Y-%m")},
            )
            cycles.append(cycle)
    return cycles


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
