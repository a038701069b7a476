"""SLA credits as negative invoice lines (pure).

A credit covers the resources in its scope (an organization, a project or one
resource, optionally narrowed to a region and a resource type) and every
resource that depends on them, transitively: a credited instance brings its
disks and network interfaces even when the credit names only instances. It
gives back the exact running time inside its window (fractional units, no
rounding up) at the rate of the price that rated that time, never more than
was charged, and no resource-second twice across overlapping credits
(invoicing/domain/credits.py).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from catalog.domain.time_units import TimeUnit
from core.periods import Period, merge_periods
from invoicing.domain.credits import CreditWindow, compute_credits, dependency_closure
from invoicing.domain.lines import BilledSegment


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditSpec:
    credit_id: int
    name: str
    description: str
    window: Period
    organization_id: int | None = None
    project_id: int | None = None
    resource_pk: int | None = None
    region: str = ""
    metric_key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CoveredResource:
    """What scoping a credit needs to know of a resource."""

    pk: int
    resource_id: str
    project_id: int
    organization_id: int
    metric_key: str
    region: str
    parent_pk: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditLineKey:
    credit_id: int
    billing_account_id: int
    project_id: int
    metric_key: str
    variant: str
    region: str
    service_class: str
    price_id: str
    rate: Decimal
    unit: TimeUnit


@dataclass(slots=True, kw_only=True)
class CreditLine:
    key: CreditLineKey
    name: str
    description: str
    window: Period
    quantity: Decimal = Decimal(0)
    resource_ids: set[str] = field(default_factory=set)
    periods: list[Period] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        """-(quantity x rate), unrounded: rounded once at the line, like any line."""
        return -(self.quantity * self.key.rate)

    @property
    def start(self) -> datetime:
        return min(p.start for p in self.periods)

    @property
    def end(self) -> datetime:
        return max(p.end for p in self.periods)


def _roots(credit: CreditSpec, resources: Iterable[CoveredResource]) -> set[str]:
    roots = set()
    for r in resources:
        if credit.resource_pk is not None and r.pk != credit.resource_pk:
            continue
        if credit.project_id is not None and r.project_id != credit.project_id:
            continue
        if credit.organization_id is not None and r.organization_id != credit.organization_id:
            continue
        if credit.region and r.region != credit.region:
            continue
        if credit.metric_key and r.metric_key != credit.metric_key:
            continue
        roots.add(r.resource_id)
    return roots


def build_credit_lines(
    *,
    credits: Sequence[CreditSpec],
    resources: Sequence[CoveredResource],
    segments: Sequence[BilledSegment],
    not_cascading: frozenset[tuple[str, str]] = frozenset(),
) -> list[CreditLine]:
    """Negative lines per credit, billing account, project, resource type, variant,
    region, class and price: what the covered resources' billed segments charged for
    their time inside each credit's window.

    A credit covers the resources that depend on those in its scope, except across a
    (resource type, parent's type) pair in `not_cascading` (the catalog's dependencies
    with `credit_cascades` off)."""
    if not credits or not segments:
        return []
    by_pk = {r.pk: r for r in resources}
    parent_of = {}
    for r in resources:
        parent = by_pk.get(r.parent_pk)
        cascades = parent is not None and (r.metric_key, parent.metric_key) not in not_cascading
        parent_of[r.resource_id] = parent.resource_id if cascades else None
    windows = [
        CreditWindow(
            credit_id=str(credit.credit_id),
            window=credit.window,
            resource_ids=frozenset(dependency_closure(roots=_roots(credit, resources),
                                                      parent_of=parent_of)),
        )
        for credit in credits
    ]
    by_id = {str(credit.credit_id): credit for credit in credits}
    # A project moved mid-cycle has its segments under two accounts; they never
    # overlap in time, so crediting each account's segments apart is exact.
    by_account: dict[int, list[BilledSegment]] = defaultdict(list)
    for billed in segments:
        by_account[billed.billing_account_id].append(billed)

    lines: dict[CreditLineKey, CreditLine] = {}
    for account_id, billed_segments in sorted(by_account.items()):
        context = {b.segment.resource_id: b for b in billed_segments}
        credited = compute_credits(credits=windows, segments=[b.segment for b in billed_segments])
        for quantity in credited:
            billed = context[quantity.resource_id]
            credit = by_id[quantity.credit_id]
            key = CreditLineKey(
                credit_id=credit.credit_id, billing_account_id=account_id,
                project_id=billed.project_id, metric_key=billed.metric_key,
                variant=quantity.variant, region=billed.region,
                service_class=billed.service_class, price_id=quantity.price_id,
                rate=quantity.rate, unit=quantity.unit,
            )
            line = lines.get(key)
            if line is None:
                line = lines[key] = CreditLine(key=key, name=credit.name,
                                               description=credit.description,
                                               window=credit.window)
            line.quantity += quantity.quantity
            line.resource_ids.add(quantity.resource_id)
            line.periods = merge_periods([*line.periods, *quantity.periods])
    return sorted(lines.values(), key=lambda ln: (ln.key.billing_account_id, ln.window.start,
                                                  ln.key.credit_id, ln.key.project_id,
                                                  ln.key.metric_key, ln.key.variant))
