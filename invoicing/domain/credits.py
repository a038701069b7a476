"""SLA credits: give back the charge for time a resource ran inside a window.

A credit's amount for a covered resource is the exact running time inside the
window in fractional units (seconds / unit, no rounding up) times the rate of
the price that rated that time. Because the rated segments already carry the
price, a window that spans a price change credits each side at its own rate.

Invariants:
- a resource-second is credited at most once, even when windows overlap:
  credits are processed in a fixed order (window start, then credit id) and
  each takes only the time earlier credits left;
- a segment is never credited more units than it was charged
  (`RatedSegment.quantity`, the ceiling), so credits never exceed the charge.
Amounts are unrounded and negative; the invoice line rounds once.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from catalog.domain.time_units import TimeUnit, exact_units
from core.periods import Period, merge_periods, subtract_periods
from invoicing.domain.rating import RatedSegment

ERR_DUPLICATE_CREDIT = "credit ids must be unique"

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditWindow:
    """A credit's window and the resources it covers.

    `resource_ids` must already include the resources that depend on the
    credit's scope (see `dependency_closure`): a credited instance brings its
    disks and NICs.
    """

    credit_id: str
    window: Period
    resource_ids: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditedQuantity:
    """Exact units of one resource at one (variant, price, rate, unit) given back by a credit.

    `quantity` is positive (fractional units); `amount` is negative and unrounded.
    """

    credit_id: str
    resource_id: str
    variant: str
    price_id: str
    rate: Decimal
    unit: TimeUnit
    quantity: Decimal
    periods: tuple[Period, ...]

    @property
    def amount(self) -> Decimal:
        """-(quantity x rate), unrounded."""
        return -(self.quantity * self.rate)


def dependency_closure(*, roots: Iterable[str], parent_of: Mapping[str, str | None]) -> set[str]:
    """`roots` plus every resource that depends on one of them, transitively.

    `parent_of` maps a resource id to the id of the resource it depends on (a
    disk to its instance), or None. A cycle in the mapping cannot loop
    forever: each resource is visited once.
    """
    children: dict[str, list[str]] = {}
    for child, parent in parent_of.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found = set(roots)
    pending = list(found)
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def compute_credits(
    *, credits: Sequence[CreditWindow], segments: Sequence[RatedSegment]
) -> list[CreditedQuantity]:
    """Credited quantities per credit and per rated (resource, variant, price, rate, unit).

    `segments` are the cycle's rated segments of the resources (from
    `rate_resource`). Output is ordered by credit (window start, id), then
    resource id, then first credited instant; resources that did not run in a
    window get no entry.
    """
    ids = [credit.credit_id for credit in credits]
    if len(ids) != len(set(ids)):
        raise ValueError(ERR_DUPLICATE_CREDIT)

    ordered_segments = sorted(
        enumerate(segments), key=lambda item: (item[1].resource_id, item[1].period.start)
    )
    ledger = _Ledger(
        credited_time={},
        remaining_units={index: segment.quantity for index, segment in enumerate(segments)},
    )
    results: list[CreditedQuantity] = []
    for credit in sorted(credits, key=lambda c: (c.window.start, c.credit_id)):
        results.extend(_credit_one(credit, ordered_segments, ledger))
    return results


@dataclass(slots=True, kw_only=True)
class _Ledger:
    """What earlier credits already gave back, so later ones take only what is left."""

    credited_time: dict[str, list[Period]]  # per resource id
    # Units still creditable per segment (by index): the ceiling it was charged.
    remaining_units: dict[int, Decimal]


def _credit_one(
    credit: CreditWindow,
    ordered_segments: Sequence[tuple[int, RatedSegment]],
    ledger: _Ledger,
) -> list[CreditedQuantity]:
    """One credit's quantities, taken from (and recorded in) the ledger."""
    grouped: dict[tuple[str, str, str, Decimal, TimeUnit], tuple[Decimal, list[Period]]] = {}
    for index, segment in ordered_segments:
        if segment.resource_id not in credit.resource_ids:
            continue
        inside = segment.period.overlap(credit.window)
        if inside is None:
            continue
        already = ledger.credited_time.setdefault(segment.resource_id, [])
        fresh = subtract_periods(inside, already)
        if not fresh:
            continue
        seconds = sum((part.seconds for part in fresh), ZERO)
        units = min(exact_units(seconds=seconds, unit=segment.unit),
                    ledger.remaining_units[index])
        ledger.remaining_units[index] -= units
        ledger.credited_time[segment.resource_id] = merge_periods([*already, *fresh])
        key = (
            segment.resource_id,
            segment.variant,
            segment.price_id,
            segment.rate,
            segment.unit,
        )
        total, periods = grouped.get(key, (ZERO, []))
        grouped[key] = (total + units, periods + fresh)
    return [
        CreditedQuantity(
            credit_id=credit.credit_id,
            resource_id=resource_id,
            variant=variant,
            price_id=price_id,
            rate=rate,
            unit=unit,
            quantity=units,
            periods=tuple(merge_periods(periods)),
        )
        for (resource_id, variant, price_id, rate, unit), (units, periods) in grouped.items()
    ]
