"""Periodic invoicing work for the current provider, shared by beat tasks and commands."""

from dataclasses import dataclass
from datetime import datetime

from cycles.models import BillingCycle, CycleStatus
from cycles.services import cycles_ensure
from invoicing.closing import CloseResult, cycle_close, cycles_due_for_closing
from invoicing.rating_run import RatingRunResult, rating_run


@dataclass(frozen=True)
class RateAllResult:
    runs: list[RatingRunResult]


def rate_open_cycles(*, now: datetime) -> list[RatingRunResult]:
    """Rate every open cycle that has started: the current one, and the previous one
    while it waits for its grace period to end."""
    cycles_ensure(now=now)
    cycles = BillingCycle.objects.filter(status=CycleStatus.OPEN, start__lte=now).order_by("start")
    results = []
    for cycle in cycles:
        results.append(rating_run(cycle=cycle, now=now))
    return results


def close_due_cycles(*, now: datetime) -> list[CloseResult]:
    """Close every cycle past its end plus grace, oldest first."""
    return [cycle_close(cycle=cycle, now=now) for cycle in cycles_due_for_closing(now=now)]
