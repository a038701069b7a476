"""Which price applies to a resource or a usage record, and when.

A price is keyed by metric (the resource type for duration prices) and three
optional dimensions: variant, region and service class, where None means
"any". It is in force over `[valid_from, valid_to)`, `valid_to` None meaning
open-ended.

Specificity, the rule that picks one price among several that match:

1. more exact dimensions beat fewer (exact region + exact variant beats
   exact region alone);
2. at an equal count, an exact region beats an exact variant, which beats an
   exact service class (the sort key compares the three flags in that order);
3. then the later `valid_from` wins, so a price set from an instant replaces
   an older one with the same key even if the older one was left open;
4. two candidates still equal are an error in the catalog, reported rather
   than resolved by chance.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from catalog.domain.decimals import validate_rate
from catalog.domain.time_units import TimeUnit
from core.periods import Period, require_aware

ERR_VALIDITY = "valid_from must be before valid_to"
ERR_AMBIGUOUS = "several prices match with the same specificity and valid_from"


class Matchable(Protocol):
    """What `select_price` needs of a candidate (read-only attributes)."""

    @property
    def price_id(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def variant(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def service_class(self) -> str | None: ...
    @property
    def valid_from(self) -> datetime: ...
    @property
    def valid_to(self) -> datetime | None: ...


PriceT = TypeVar("PriceT", bound=Matchable)


class AmbiguousPriceError(ValueError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceKey:
    """A price's matching key and validity, without what it charges."""

    price_id: str
    metric: str
    variant: str | None
    region: str | None
    service_class: str | None
    valid_from: datetime
    valid_to: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.valid_from)
        # Period checks awareness and order; a missing end has nothing to check against.
        if self.valid_to is not None:
            try:
                Period(start=self.valid_from, end=self.valid_to)
            except ValueError as error:
                raise ValueError(f"{ERR_VALIDITY}: {error}") from None


def is_valid_at(candidate: Matchable, at: datetime) -> bool:
    """True when `valid_from <= at < valid_to` (no `valid_to`: open-ended)."""
    return candidate.valid_from <= at and (candidate.valid_to is None or at < candidate.valid_to)


def _dimension_matches(wanted: str | None, offered: str | None) -> bool:
    # A price for "any" matches everything; a resource without a value (None)
    # matches only prices for "any".
    return offered is None or offered == wanted


def matches(
    candidate: Matchable,
    *,
    metric: str,
    variant: str | None,
    region: str | None,
    service_class: str | None,
) -> bool:
    """True when `candidate` prices this metric and these dimensions (validity aside)."""
    return (
        candidate.metric == metric
        and _dimension_matches(variant, candidate.variant)
        and _dimension_matches(region, candidate.region)
        and _dimension_matches(service_class, candidate.service_class)
    )


def specificity(candidate: Matchable) -> tuple[int, bool, bool, bool]:
    """Sort key of the specificity rule: (exact count, region, variant, class)."""
    region = candidate.region is not None
    variant = candidate.variant is not None
    service_class = candidate.service_class is not None
    return (region + variant + service_class, region, variant, service_class)


def select_price(
    candidates: Iterable[PriceT],
    *,
    metric: str,
    variant: str | None,
    region: str | None,
    service_class: str | None,
    at: datetime,
) -> PriceT | None:
    """The most specific candidate that matches and is valid at `at`, or None.

    Raises AmbiguousPriceError when two winners tie on specificity and
    `valid_from` (the catalog should never allow it).
    """
    eligible = [
        candidate
        for candidate in candidates
        if is_valid_at(candidate, at)
        and matches(
            candidate,
            metric=metric,
            variant=variant,
            region=region,
            service_class=service_class,
        )
    ]
    if not eligible:
        return None

    def rank(candidate: PriceT) -> tuple[tuple[int, bool, bool, bool], datetime]:
        return specificity(candidate), candidate.valid_from

    ranked = sorted(eligible, key=rank, reverse=True)
    if len(ranked) > 1 and rank(ranked[0]) == rank(ranked[1]):
        ids = ", ".join(sorted(c.price_id for c in ranked if rank(c) == rank(ranked[0])))
        raise AmbiguousPriceError(f"{ERR_AMBIGUOUS}: {ids}")
    return ranked[0]


def price_segments(
    candidates: Sequence[PriceT],
    *,
    metric: str,
    variant: str | None,
    region: str | None,
    service_class: str | None,
    period: Period,
) -> list[tuple[Period, PriceT]]:
    """Split `period` into the sub-periods in which one price is in force.

    Boundaries are `period`'s bounds and every `valid_from`/`valid_to` of a
    matching candidate inside it; between two boundaries the set of valid
    candidates cannot change, so the winner at a sub-period's start holds for
    all of it. Adjacent sub-periods with the same winner are joined. Time in
    which no price is in force is left out (the caller reports it unpriced).
    Result is sorted by start.
    """
    relevant = [
        candidate
        for candidate in candidates
        if matches(
            candidate,
            metric=metric,
            variant=variant,
            region=region,
            service_class=service_class,
        )
    ]
    cuts = {period.start, period.end}
    for candidate in relevant:
        for bound in (candidate.valid_from, candidate.valid_to):
            if bound is not None and period.start < bound < period.end:
                cuts.add(bound)
    edges = sorted(cuts)

    segments: list[tuple[Period, PriceT]] = []
    for start, end in zip(edges, edges[1:], strict=False):
        winner = select_price(
            relevant,
            metric=metric,
            variant=variant,
            region=region,
            service_class=service_class,
            at=start,
        )
        if winner is None:
            continue
        if segments and segments[-1][1] is winner and segments[-1][0].end == start:
            segments[-1] = (Period(start=segments[-1][0].start, end=end), winner)
        else:
            segments.append((Period(start=start, end=end), winner))
    return segments


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
