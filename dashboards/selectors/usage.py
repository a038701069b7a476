"""The operator's view of usage: today's ingestion health, the usage of a cycle that no
entitlement covered, and the usage that arrived after its cycle was finalized."""

from datetime import UTC, datetime

from django.db.models import QuerySet

from core.periods import Period
from core.replica import read_alias
from cycles.models import BillingCycle
from metering.models import LateEvent
from metering.selectors import IngestionCounts, UnentitledUsage, ingestion_health, late_events
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


def late_usage(*, cycle: str | None) -> QuerySet[LateEvent]:
    """The late-usage report, of one finalized cycle when given, from the replica."""
    return late_events(cycle=cycle, using=read_alias())


def late_usage_cycles() -> list[str]:
    """The finalized cycles late events fell in, latest first (for the filter)."""
    return list(late_events(using=read_alias()).order_by("-cycle").values_list(
        "cycle", flat=True).distinct())
