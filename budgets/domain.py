"""Pure budget rules: which thresholds a spend has crossed.

No ORM, no settings, no clock. Amounts are Decimals in the provider's currency;
thresholds are whole percentages of the budget's amount.
"""

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

THRESHOLD_MIN, THRESHOLD_MAX = 1, 1000


def thresholds_crossed(*, spend: Decimal, amount: Decimal, thresholds: Iterable[int]) -> list[int]:
    """The thresholds (percent of `amount`) that `spend` has reached, ascending.

    Reached means `spend >= amount * threshold / 100`, compared exactly (both sides
    multiplied by 100: no division, no rounding). A budget with no positive amount
    crosses nothing.
    """
    if not isinstance(spend, Decimal) or not isinstance(amount, Decimal):
        raise TypeError("spend and amount must be Decimal")
    if amount <= 0:
        return []
    return sorted({t for t in thresholds if spend * 100 >= amount * t})


def percent_used(*, spend: Decimal, amount: Decimal) -> Decimal:
    """`spend` as a percentage of `amount`, to one decimal place, ROUND_HALF_UP
    (for people: emails and API output, never for a decision)."""
    if amount <= 0:
        return Decimal("0.0")
    return (spend * 100 / amount).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def normalize_thresholds(values: Iterable[int]) -> list[int]:
    """Distinct, ascending whole percentages; ValueError for anything else."""
    out: set[int] = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(value)
        if not THRESHOLD_MIN <= value <= THRESHOLD_MAX:
            raise ValueError(value)
        out.add(value)
    return sorted(out)

