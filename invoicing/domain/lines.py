"""From resources, prices and project assignments to the lines of draft invoices.

Pure: plain values in, plain values out. The rating run (invoicing/rating_run.py)
loads the inputs, calls `build_duration_lines`, and writes what it returns.

How a line forms:
1. Each resource's running intervals come from its lifecycle events, up to
   `until` (the cycle end, or "now" for a cycle still open).
2. Each interval is split where the project's billing account changes (a
   project moved mid-cycle bills each side to its own account) and rated with
   `rate_resource`: clipped to the cycle, split where the price in force
   changes, `ceil(duration / unit)` units per piece.
3. Rated quantities group into one line per billing account, project, resource
   type, variant, region, service class, price (so per rate and unit) and the
   resources' creator (spend per user adds up whole lines); the
   line counts its resources and sums their units. Its amount is rounded once,
   by the caller, at the line.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from catalog.domain.matching import DurationPrice, price_segments
from catalog.domain.time_units import TimeUnit
from core.periods import Period, subtract_periods
from invoicing.domain.rating import RatedResource, RatedSegment, rate_resource
from metering.domain.timeline import (
    LifecycleEvent,
    LifecycleKind,
    RunningInterval,
    running_intervals,
)

SECONDS_PER_DAY = Decimal(86400)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceTimeline:
    """A resource and all its lifecycle events before the end of the rated window."""

    pk: int
    resource_id: str
    metric_key: str
    project_id: int
    region: str
    service_class: str
    events: tuple[LifecycleEvent, ...]
    creator_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountWindow:
    """A project billed to `billing_account_id` over `[valid_from, valid_to)`."""

    project_id: int
    billing_account_id: int
    valid_from: datetime
    valid_to: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LineKey:
    billing_account_id: int
    project_id: int
    metric_key: str
    variant: str
    region: str
    service_class: str
    price_id: str
    rate: Decimal
    unit: TimeUnit
    # Who created the line's resources: one creator's resources per line, so spend per
    # user is a sum of whole lines, each rounded once (None: no creator was given).
    creator_id: int | None = None


@dataclass(slots=True, kw_only=True)
class DraftLine:
    """One line of a draft invoice, before names and rounding."""

    key: LineKey
    quantity: Decimal = Decimal(0)
    resource_pks: set[int] = field(default_factory=set)
    running_pks: set[int] = field(default_factory=set)
    start: datetime | None = None
    end: datetime | None = None

    @property
    def amount(self) -> Decimal:
        """quantity x rate, unrounded: the caller rounds once, at the line."""
        return self.quantity * self.key.rate

    @property
    def daily_rate(self) -> Decimal:
        """What the line's resources running at the end of the window cost per day."""
        per_day = SECONDS_PER_DAY / self.key.unit.seconds
        return len(self.running_pks) * per_day * self.key.rate


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbilled:
    """Running time that no line holds, and why (reported, never dropped silently)."""

    resource_id: str
    period: Period
    reason: str


UNPRICED = "no price in force for this resource type, variant, region and class"
NO_ACCOUNT = "the project bills to no billing account at that time"
BAD_TIMELINE = "the resource's lifecycle events contradict each other"


@dataclass(frozen=True, slots=True, kw_only=True)
class BilledSegment:
    """A rated segment and the account and project it was billed to: SLA credits give
    back exactly what such segments charged."""

    billing_account_id: int
    project_id: int
    metric_key: str
    region: str
    service_class: str
    segment: RatedSegment


@dataclass(frozen=True, slots=True, kw_only=True)
class DurationRating:
    lines: tuple[DraftLine, ...]
    unbilled: tuple[Unbilled, ...]
    segments: tuple[BilledSegment, ...] = ()


def _from_first_created(events: Sequence[LifecycleEvent]) -> list[LifecycleEvent]:
    """Events from the resource's `created` on. Events that arrived before their
    `created` (out of order) wait for it: without it the start is unknown."""
    for index, event in enumerate(events):
        if event.kind == LifecycleKind.CREATED:
            return list(events[index:])
    return []


def windows_by_project(
    assignments: Iterable[AccountWindow], cycle: Period
) -> dict[int, list[tuple[int, Period]]]:
    """Each project's (billing account, part of `cycle` it bills there), by start."""
    windows: dict[int, list[tuple[int, Period]]] = defaultdict(list)
    for a in assignments:
        end = a.valid_to if a.valid_to is not None else cycle.end
        if end <= a.valid_from:
            continue
        clipped = Period(start=a.valid_from, end=end).overlap(cycle)
        if clipped is not None:
            windows[a.project_id].append((a.billing_account_id, clipped))
    for project_windows in windows.values():
        project_windows.sort(key=lambda item: item[1].start)
    return windows


def build_duration_lines(
    *,
    resources: Iterable[ResourceTimeline],
    prices: Sequence[DurationPrice],
    assignments: Iterable[AccountWindow],
    cycle: Period,
    until: datetime,
) -> DurationRating:
    """Rate every resource's running time in `cycle` up to `until` into draft lines."""
    until = min(until, cycle.end)
    lines: dict[LineKey, DraftLine] = {}
    unbilled: list[Unbilled] = []
    billed: list[BilledSegment] = []
    if until <= cycle.start:
        return DurationRating(lines=(), unbilled=())
    window = Period(start=cycle.start, end=until)
    windows = windows_by_project(assignments, window)
    prices_by_metric: dict[str, list[DurationPrice]] = defaultdict(list)
    for price in prices:
        prices_by_metric[price.metric].append(price)

    for resource in resources:
        try:
            intervals = running_intervals(_from_first_created(resource.events), until=until)
        except ValueError:
            unbilled.append(Unbilled(resource_id=resource.resource_id, period=window,
                                     reason=BAD_TIMELINE))
            continue
        intervals = [i for i in intervals if i.period.overlap(window) is not None]
        if not intervals:
            continue
        rated_resource = RatedResource(
            resource_id=resource.resource_id, metric=resource.metric_key,
            region=resource.region, service_class=resource.service_class,
        )
        project_windows = windows.get(resource.project_id, [])
        for account_id, account_window in project_windows:
            rating = rate_resource(
                resource=rated_resource,
                intervals=intervals,
                cycle=account_window,
                prices=prices_by_metric.get(resource.metric_key, []),
            )
            unbilled.extend(Unbilled(resource_id=resource.resource_id, period=period,
                                     reason=UNPRICED) for period in rating.unpriced)
            for segment in rating.segments:
                billed.append(BilledSegment(
                    billing_account_id=account_id, project_id=resource.project_id,
                    metric_key=resource.metric_key, region=resource.region,
                    service_class=resource.service_class, segment=segment,
                ))
                running = segment.period.end == until and _still_running(intervals, until)
                _line_add(lines, account_id, resource, segment, running=running)
        _report_unassigned(resource, intervals, project_windows, window, unbilled)
    ordered = sorted(lines.values(), key=_line_order)
    return DurationRating(lines=tuple(ordered), unbilled=tuple(unbilled), segments=tuple(billed))


@dataclass(frozen=True, slots=True, kw_only=True)
class PricedSpan:
    """The price in force for one (resource type, variant, region, class) over `period`."""

    metric_key: str
    variant: str
    region: str
    service_class: str
    period: Period
    price: DurationPrice


def priced_spans(*, combinations: Iterable[tuple[str, str, str, str]],
                 prices: Sequence[DurationPrice], window: Period) -> list[PricedSpan]:
    """`price_segments` over the whole `window` for each (metric, variant, region, class).

    A running interval's price pieces are exactly its overlaps with these spans (the
    winner only changes at a price's bounds; adjacent time with one winner is one
    span), so SQL can clip running time to them without knowing the matching rules."""
    by_metric: dict[str, list[DurationPrice]] = defaultdict(list)
    for price in prices:
        by_metric[price.metric].append(price)
    spans = []
    for metric_key, variant, region, service_class in combinations:
        for piece, price in price_segments(
            by_metric.get(metric_key, []), metric=metric_key, variant=variant, region=region,
            service_class=service_class, period=window,
        ):
            spans.append(PricedSpan(metric_key=metric_key, variant=variant, region=region,
                                    service_class=service_class, period=piece, price=price))
    return spans


@dataclass(frozen=True, slots=True, kw_only=True)
class LineAggregate:
    """Running time summed in SQL for one line's key: `units` sums ceil(seconds / unit)
    over each piece (a running interval clipped to an account window and a priced span)."""

    billing_account_id: int
    project_id: int
    metric_key: str
    variant: str
    region: str
    service_class: str
    price: DurationPrice
    units: Decimal
    resource_pks: frozenset[int]
    running_pks: frozenset[int]
    start: datetime
    end: datetime
    creator_id: int | None = None  # one creator's resources per line, as `_line_add` keys


def lines_with_aggregates(aggregates: Iterable[LineAggregate],
                          rest: DurationRating) -> DurationRating:
    """`rest` (resources rated one by one) with the SQL-summed `aggregates` added to
    its lines (the same key adds up), in line order."""
    lines = {line.key: line for line in rest.lines}
    for a in aggregates:
        key = LineKey(
            billing_account_id=a.billing_account_id, project_id=a.project_id,
            metric_key=a.metric_key, variant=a.variant, region=a.region,
            service_class=a.service_class, price_id=a.price.price_id, rate=a.price.rate,
            unit=a.price.unit, creator_id=a.creator_id,
        )
        line = lines.get(key)
        if line is None:
            line = lines[key] = DraftLine(key=key)
        line.quantity += a.units
        line.resource_pks |= a.resource_pks
        line.running_pks |= a.running_pks
        line.start = min(line.start or a.start, a.start)
        line.end = max(line.end or a.end, a.end)
    ordered = sorted(lines.values(), key=_line_order)
    return DurationRating(lines=tuple(ordered), unbilled=rest.unbilled, segments=rest.segments)


def _line_add(lines: dict[LineKey, DraftLine], account_id: int, resource: ResourceTimeline,
              segment: RatedSegment, *, running: bool) -> None:
    """Add a rated segment to its line (one per account, project, resource type, variant,
    region, class and price); `running`: the resource runs at the end of the window."""
    key = LineKey(
        billing_account_id=account_id,
        project_id=resource.project_id,
        metric_key=resource.metric_key,
        variant=segment.variant,
        region=resource.region,
        service_class=resource.service_class,
        price_id=segment.price_id,
        rate=segment.rate,
        unit=segment.unit,
        creator_id=resource.creator_id,
    )
    line = lines.get(key)
    if line is None:
        line = lines[key] = DraftLine(key=key)
    line.quantity += segment.quantity
    line.resource_pks.add(resource.pk)
    line.start = min(line.start or segment.period.start, segment.period.start)
    line.end = max(line.end or segment.period.end, segment.period.end)
    if running:
        line.running_pks.add(resource.pk)


def _still_running(intervals: Sequence[RunningInterval], until: datetime) -> bool:
    return bool(intervals) and intervals[-1].period.end == until


def _report_unassigned(resource, intervals, project_windows, window, unbilled) -> None:
    for interval in intervals:
        clipped = interval.period.overlap(window)
        if clipped is None:
            continue
        for gap in subtract_periods(clipped, [w for _, w in project_windows]):
            unbilled.append(Unbilled(resource_id=resource.resource_id, period=gap,
                                     reason=NO_ACCOUNT))


def _line_order(line: DraftLine) -> tuple:
    k = line.key
    return (k.billing_account_id, k.project_id, k.metric_key, k.variant, k.region,
            k.service_class, line.start, k.price_id, k.creator_id or 0)
