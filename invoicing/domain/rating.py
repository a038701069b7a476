"""Duration rating: how long a resource ran in a cycle, in billable units.

From a resource's ordered lifecycle events we derive its running intervals
(`running_intervals`). Rating (`rate_resource`) clips each interval to the
cycle, splits it where the price in force changes (`price_segments`), and
bills `ceil(duration / unit)` units for each such piece: the ceiling applies
per clipped interval per price segment, never to a sum. So a resource stopped
and started within one minute pays two minutes at a per-minute price, and an
interval that crosses a price change or a cycle boundary may pay one started
unit on each side. Amounts stay unrounded until the invoice line.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from billing.periods import Period, merge_periods, require_aware, subtract_periods
from catalog.domain.matching import PriceKey, matches, price_segments
from catalog.domain.pricing import TimeUnit, duration_units, validate_rate

ERR_VARIANT_REQUIRED = "created and resized events must carry the variant"
ERR_ORDER = "lifecycle events must be ordered by time"
ERR_NOT_CREATED = "the first lifecycle event of a resource must be 'created'"
ERR_CREATED_TWICE = "a resource is created only once"
ERR_AFTER_DELETE = "no lifecycle event may follow 'deleted'"


class LifecycleKind(StrEnum):
    CREATED = "created"
    STARTED = "started"
    STOPPED = "stopped"
    RESIZED = "resized"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class LifecycleEvent:
    """A change in a resource's life at instant `at`; `variant` for created/resized."""

    kind: LifecycleKind
    at: datetime
    variant: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.at)
        needs_variant = self.kind in (LifecycleKind.CREATED, LifecycleKind.RESIZED)
        if needs_variant and not self.variant:
            raise ValueError(f"{ERR_VARIANT_REQUIRED}: {self.kind} at {self.at.isoformat()}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningInterval:
    """The resource ran as `variant` throughout `period`."""

    period: Period
    variant: str


def running_intervals(
    events: Sequence[LifecycleEvent], *, until: datetime
) -> list[RunningInterval]:
    """Running intervals of one resource from its events, up to (not including) `until`.

    Rules, applied in list order (events at the same instant keep their order):
    - `created` must come first; the resource runs from it, as its variant.
    - `stopped` ends the running interval; `started` begins a new one. A
      `started` while running or a `stopped` while stopped changes nothing
      (telemetry repeats itself).
    - `resized` while running ends the interval and starts another with the
      new variant at the same instant; while stopped it only changes the
      variant the next `started` runs as.
    - `deleted` ends any running interval; no event may follow it.
    - Events at or after `until` are ignored; an interval still running at
      `until` ends there (pass the cycle end, or "now" for a draft).
    Zero-length intervals (stopped at the instant it started) are dropped.
    """
    require_aware(until)
    intervals: list[RunningInterval] = []
    variant: str | None = None
    running_since: datetime | None = None
    created = deleted = False
    previous_at: datetime | None = None

    def close(at: datetime) -> None:
        if running_since is not None and running_since < at:
            intervals.append(
                RunningInterval(period=Period(start=running_since, end=at), variant=variant)
            )

    for event in events:
        if previous_at is not None and event.at < previous_at:
            raise ValueError(f"{ERR_ORDER}: {event.at.isoformat()} after {previous_at.isoformat()}")
        previous_at = event.at
        if deleted:
            raise ValueError(f"{ERR_AFTER_DELETE}: {event.kind} at {event.at.isoformat()}")
        if not created and event.kind != LifecycleKind.CREATED:
            raise ValueError(f"{ERR_NOT_CREATED}, got {event.kind}")
        if created and event.kind == LifecycleKind.CREATED:
            raise ValueError(ERR_CREATED_TWICE)
        if event.at >= until:
            break
        match event.kind:
            case LifecycleKind.CREATED:
                created, variant, running_since = True, event.variant, event.at
            case LifecycleKind.STARTED:
                if running_since is None:
                    running_since = event.at
            case LifecycleKind.STOPPED:
                close(event.at)
                running_since = None
            case LifecycleKind.RESIZED:
                if running_since is not None:
                    close(event.at)
                    running_since = event.at
                variant = event.variant
            case LifecycleKind.DELETED:
                close(event.at)
                running_since, deleted = None, True
    close(until)
    return intervals


@dataclass(frozen=True, slots=True, kw_only=True)
class DurationPrice(PriceKey):
    """A price of a resource type: `rate` money per one `unit` of running time."""

    rate: Decimal
    unit: TimeUnit

    def __post_init__(self) -> None:
        # Explicit base call: zero-argument super() breaks in slots dataclasses on 3.11.
        PriceKey.__post_init__(self)
        # Frozen: store the checked values ("minute" becomes TimeUnit.MINUTE).
        object.__setattr__(self, "rate", validate_rate(name="rate", value=self.rate))
        object.__setattr__(self, "unit", TimeUnit(self.unit))


@dataclass(frozen=True, slots=True, kw_only=True)
class RatedResource:
    """What rating needs to know about a resource to match its prices."""

    resource_id: str
    metric: str
    region: str | None
    service_class: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RatedSegment:
    """Running time inside the cycle priced by one price: `quantity` = ceil(seconds / unit)."""

    resource_id: str
    variant: str
    price_id: str
    rate: Decimal
    unit: TimeUnit
    period: Period
    quantity: Decimal

    @property
    def amount(self) -> Decimal:
        """quantity x rate, unrounded."""
        return self.quantity * self.rate


@dataclass(frozen=True, slots=True, kw_only=True)
class RatedQuantity:
    """Units of one resource at one (variant, price, rate, unit) in a cycle.

    `quantity` sums the per-segment ceilings; `periods` are the (merged)
    running periods it covers, sorted.
    """

    resource_id: str
    variant: str
    price_id: str
    rate: Decimal
    unit: TimeUnit
    quantity: Decimal
    periods: tuple[Period, ...]

    @property
    def covered(self) -> Period:
        """From the first running instant to the end of the last, within the cycle."""
        return Period(start=self.periods[0].start, end=self.periods[-1].end)

    @property
    def amount(self) -> Decimal:
        """quantity x rate, unrounded."""
        return self.quantity * self.rate


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceRating:
    """Rating of one resource in one cycle.

    `unpriced` is running time in the cycle for which no price was in force:
    it is reported, never silently dropped.
    """

    segments: tuple[RatedSegment, ...]
    quantities: tuple[RatedQuantity, ...]
    unpriced: tuple[Period, ...]


def rate_resource(
    *,
    resource: RatedResource,
    intervals: Sequence[RunningInterval],
    cycle: Period,
    prices: Sequence[DurationPrice],
) -> ResourceRating:
    """Rate `resource`'s running `intervals` in `cycle` with the matching `prices`.

    Each interval is clipped to the cycle, split into price segments (the
    most specific price in force, see `catalog.domain.matching`), and each
    segment bills `duration_units` = ceil(seconds / price unit). Segments are
    summed per (variant, price, rate, unit) in order of first appearance.
    """
    segments: list[RatedSegment] = []
    unpriced: list[Period] = []
    # The prices that match each variant, found once per resource rather than once per
    # interval (a resource running in a hundred intervals, against a catalog of many
    # prices, spent most of its rating in price matching).
    candidates: dict[str, list[DurationPrice]] = {}
    for interval in intervals:
        clipped = interval.period.overlap(cycle)
        if clipped is None:
            continue
        matching = candidates.get(interval.variant)
        if matching is None:
            matching = candidates[interval.variant] = [
                price for price in prices
                if matches(price, metric=resource.metric, variant=interval.variant,
                           region=resource.region, service_class=resource.service_class)
            ]
        pieces = price_segments(
            matching,
            metric=resource.metric,
            variant=interval.variant,
            region=resource.region,
            service_class=resource.service_class,
            period=clipped,
        )
        for piece, price in pieces:
            segments.append(
                RatedSegment(
                    resource_id=resource.resource_id,
                    variant=interval.variant,
                    price_id=price.price_id,
                    rate=price.rate,
                    unit=price.unit,
                    period=piece,
                    quantity=duration_units(seconds=piece.seconds, unit=price.unit),
                )
            )
        unpriced.extend(subtract_periods(clipped, [piece for piece, _ in pieces]))

    grouped: dict[tuple[str, str, Decimal, TimeUnit], list[RatedSegment]] = {}
    for segment in segments:
        key = (segment.variant, segment.price_id, segment.rate, segment.unit)
        grouped.setdefault(key, []).append(segment)
    quantities = tuple(
        RatedQuantity(
            resource_id=resource.resource_id,
            variant=variant,
            price_id=price_id,
            rate=rate,
            unit=unit,
            quantity=sum((s.quantity for s in group), Decimal(0)),
            periods=tuple(merge_periods(s.period for s in group)),
        )
        for (variant, price_id, rate, unit), group in grouped.items()
    )
    return ResourceRating(
        segments=tuple(segments), quantities=quantities, unpriced=tuple(merge_periods(unpriced))
    )
