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
from decimal import Decimal

from catalog.domain.matching import DurationPrice, matches, price_segments
from catalog.domain.time_units import TimeUnit, duration_units
from core.periods import Period, merge_periods, subtract_periods
from metering.domain.timeline import RunningInterval


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
    segments, unpriced = _rated_segments(resource, intervals, cycle, prices)
    return ResourceRating(
        segments=tuple(segments),
        quantities=_quantities(resource.resource_id, segments),
        unpriced=tuple(merge_periods(unpriced)),
    )


def _rated_segments(
    resource: RatedResource,
    intervals: Sequence[RunningInterval],
    cycle: Period,
    prices: Sequence[DurationPrice],
) -> tuple[list[RatedSegment], list[Period]]:
    """The intervals clipped to the cycle and split by price in force, each piece billed
    `duration_units`; and the running time no price covers."""
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
    return segments, unpriced


def _quantities(resource_id: str, segments: Sequence[RatedSegment]) -> tuple[RatedQuantity, ...]:
    """Segments summed per (variant, price, rate, unit), in order of first appearance."""
    grouped: dict[tuple[str, str, Decimal, TimeUnit], list[RatedSegment]] = {}
    for segment in segments:
        key = (segment.variant, segment.price_id, segment.rate, segment.unit)
        grouped.setdefault(key, []).append(segment)
    return tuple(
        RatedQuantity(
            resource_id=resource_id,
            variant=variant,
            price_id=price_id,
            rate=rate,
            unit=unit,
            quantity=sum((s.quantity for s in group), Decimal(0)),
            periods=tuple(merge_periods(s.period for s in group)),
        )
        for (variant, price_id, rate, unit), group in grouped.items()
    )
