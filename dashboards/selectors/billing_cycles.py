"""The billing cycle a page shows and the cycles its period picker offers."""

from datetime import datetime

from django.http import Http404

from core.replica import read_alias
from cycles.models import BillingCycle, CycleStatus
from cycles.selectors import cycle_for_label

NO_SUCH_CYCLE = "there is no billing cycle {label}"


def dashboard_cycle(*, label: str | None, now: datetime) -> BillingCycle | None:
    """The cycle a page shows: the one named `label` (YYYY-MM), else the one containing
    `now`, else the latest that has started. Http404 for a label with no cycle."""
    try:
        cycle = cycle_for_label(label or None, now=now, using=read_alias())
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    if cycle is None and label:
        raise Http404(NO_SUCH_CYCLE.format(label=label))
    if cycle is None:
        cycle = (BillingCycle.objects.using(read_alias()).filter(start__lte=now)
                 .order_by("-start").first())
    return cycle


def cycle_choices(*, now: datetime, limit: int = 24) -> list[BillingCycle]:
    """The latest cycles that have started, newest first, for the period picker."""
    return list(BillingCycle.objects.using(read_alias()).filter(start__lte=now)
                .order_by("-start")[:limit])


def cycle_is_open(cycle: BillingCycle | None) -> bool:
    return cycle is not None and cycle.status == CycleStatus.OPEN
