"""The one refusal of writes dated in a finalized billing cycle.

A finalized invoice never changes, so nothing dated before the end of the
provider's last closing or closed cycle may be written: not a price, a project
move, a lifecycle or usage event, nor an SLA credit window. Every path that takes
a dated write asks this guard, and every one answers the same way: HTTP 409 with
code `cycle_finalized`, the cycle, and what to do instead; per item in a batch;
as a form error in the admin; as the error of a command.
"""

from dataclasses import dataclass
from datetime import datetime

from core.errors import Conflict
from cycles.selectors import finalized_until, month_label

CODE = "cycle_finalized"
CYCLE_FINALIZED = (
    "{when} falls in the billing cycle {label}, which is finalized: its invoices never "
    "change. Correct that month with a credit note against its invoice, or date the "
    "change in an open cycle."
)


class CycleFinalized(Conflict):
    """A write dated in a finalized cycle (HTTP 409 `cycle_finalized`)."""

    api_code = CODE

    def __init__(self, *, field: str, when: datetime, label: str):
        self.field = field
        self.when = when
        self.label = label
        self.text = CYCLE_FINALIZED.format(when=when.isoformat(), label=label)
        super().__init__({field: [self.text]})

    @property
    def api_extra(self) -> dict:
        return {"cycle": self.label}

    def body(self) -> dict:
        """The error envelope's content, for answers that carry it per item."""
        return {"status": 409, "code": CODE, "message": self.text, "cycle": self.label,
                "fields": {self.field: [self.text]}}


@dataclass(frozen=True)
class FinalizedBoundary:
    """Where the frozen past ends, read once for a whole batch."""

    until: datetime | None

    def refusal(self, when: datetime, *, field: str) -> CycleFinalized | None:
        if self.until is None or when >= self.until:
            return None
        return CycleFinalized(field=field, when=when, label=month_label(when))


def finalized_boundary() -> FinalizedBoundary:
    return FinalizedBoundary(until=finalized_until())


def cycle_guard(when: datetime, *, field: str) -> None:
    """Raise CycleFinalized when `when` falls in a finalized cycle."""
    refused = finalized_boundary().refusal(when, field=field)
    if refused is not None:
        raise refused
