"""Units of time of duration prices, and how many of them a running interval bills.

A duration metric counts whole units of time per running interval
(`duration_units`: a started unit is billed in full); credits count exact
fractions (`exact_units`).
"""

from decimal import Decimal
from enum import StrEnum

from catalog.domain.decimals import ceil_div, non_negative


class TimeUnit(StrEnum):
    """Unit of time of a duration price; the value is what gets stored."""

    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def seconds(self) -> Decimal:
        """Length of one unit in seconds (second 1, minute 60, hour 3600, day 86400)."""
        return _UNIT_SECONDS[self]


_UNIT_SECONDS = {
    TimeUnit.SECOND: Decimal(1),
    TimeUnit.MINUTE: Decimal(60),
    TimeUnit.HOUR: Decimal(3600),
    TimeUnit.DAY: Decimal(86400),
}


def duration_units(*, seconds: Decimal | int, unit: TimeUnit) -> Decimal:
    """Whole units of `unit` billed for one running interval of `seconds`.

    `ceil(seconds / unit.seconds)`: any started unit is billed in full, 0
    seconds is 0 units. Apply it to each running interval separately (after
    clipping to the cycle and splitting at price changes), then sum.
    """
    return ceil_div(non_negative("seconds", seconds), unit.seconds)


def exact_units(*, seconds: Decimal | int, unit: TimeUnit) -> Decimal:
    """Exact (fractional) units of `unit` in `seconds`, not rounded up; for credits.

    Division runs at the context precision (28 significant digits by default),
    far below a cent for any realistic quantity x rate.
    """
    return non_negative("seconds", seconds) / unit.seconds
