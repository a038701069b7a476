"""The operator's view of usage: today's ingestion health, and the usage of a cycle
that no entitlement covered."""

from datetime import UTC, datetime

from core.periods import Period
from cycles.models import BillingCycle
from metering.selectors import IngestionCounts, UnentitledUsage, ingestion_health
from metering.selectors import unentitled_usage as metering_unentitled_usage
from tenancy.models import BillingMode
from tenancy.selectors import provider_current


def ingestion_today(*, now: datetime) -> list[IngestionCounts]:
    return ingestion_health(day=now.astimezone(UTC).date())


def unentitled_usage_available() -> bool:
    """Whether unentitled usage means something here: the provider sells offers (a
    chargeback provider prices all usage by its list prices, so nothing is left
    unentitled)."""
    return provider_current().billing_mode == BillingMode.OFFERS


def unentitled_usage(*, cycle: BillingCycle) -> list[UnentitledUsage]:
    """Usage in the cycle no entitlement covered, per project and metric (one query)."""
    return metering_unentitled_usage(period=Period(start=cycle.start, end=cycle.end))
