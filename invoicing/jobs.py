"""Periodic invoicing work for the current provider, shared by beat tasks and commands.

Which cycles exist: the current month (from the billing start on), every month
something dated was written in (cycles.services.cycles_ensure_for), and every month
that follows an ended cycle in which something still billed at its end (a running
resource, an active entitlement): the carry-over, so a resource imported as created
in 2020 and never deleted bills every month since, while a month nobody bills never
gets a cycle.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef

from accounts.selectors import entitlements_active_at
from cycles.models import BillingCycle, CycleStatus
from cycles.services import cycles_ensure, cycles_ensure_for
from invoicing.closing import CloseResult, cycle_close, cycles_due_for_closing
from invoicing.rating_run import RatingRunResult, rating_run
from metering.selectors import resources_running_at


@dataclass(frozen=True)
class RateAllResult:
    runs: list[RatingRunResult]


def billing_at(at: datetime) -> bool:
    """Whether anything bills from instant `at` on: a resource still running after its
    events up to `at`, or an entitlement active at it."""
    return resources_running_at(at=at) or entitlements_active_at(at=at)


def cycles_carry_over(*, now: datetime) -> list[BillingCycle]:
    """Make the cycle that follows each ended, unfinalized cycle whose month something
    still billed at the end of, oldest first, up to the month of `now`; returns those
    made. In the steady state no cycle qualifies (the current month exists and has
    not ended) and this costs one query."""
    made: list[BillingCycle] = []
    following = BillingCycle.objects.filter(start=OuterRef("end"))
    while True:
        ended = list(
            BillingCycle.objects.filter(status__in=(CycleStatus.OPEN, CycleStatus.CLOSING),
                                        end__lte=now)
            .exclude(Exists(following)).order_by("start")
        )
        created = []
        for cycle in ended:
            if billing_at(cycle.end):
                created += cycles_ensure_for(instants=[cycle.end], now=now)
        if not created:
            return made
        made += created


def rate_open_cycles(*, now: datetime) -> list[RatingRunResult]:
    """Rate every open cycle that has started, oldest first: the current one, months of
    imported history, and the previous one while it waits for its grace period."""
    cycles_ensure(now=now)
    cycles_carry_over(now=now)
    cycles = BillingCycle.objects.filter(status=CycleStatus.OPEN, start__lte=now).order_by("start")
    return [rating_run(cycle=cycle, now=now) for cycle in cycles]


def close_due_cycles(*, now: datetime) -> list[CloseResult]:
    """Close every cycle past its end plus grace, oldest first, so invoices are
    numbered in cycle order. A month that follows a closed one and still billed at its
    start is made (carry-over) before the next is picked, and closed in turn when due."""
    results: list[CloseResult] = []
    tried: set[int] = set()
    while True:
        cycles_carry_over(now=now)
        due = [c for c in cycles_due_for_closing(now=now) if c.pk not in tried]
        if not due:
            return results
        tried.add(due[0].pk)
        results.append(cycle_close(cycle=due[0], now=now))
