"""The refusals of the billing calendar: writes it cannot take, each with its reason.

A finalized invoice never changes, so nothing dated before the end of the
provider's last closing or closed cycle may be written: not a price, a project
move, a lifecycle or usage event, nor an SLA credit window. Nothing is billed
before the provider's billing start either, so nothing dated before it is
accepted. Every path that takes a dated write asks this guard, and every one
answers the same way: HTTP 409 with code `cycle_finalized` (or
`before_billing_start`), the cycle, and what to do instead; per item in a batch;
as a form error in the admin; as the error of a command.

Events also have a future bound: an `occurred_at` more than the provider's
`future_horizon` ahead of now is refused per item (`beyond_future_horizon`), so a
clock gone wrong cannot open cycles years ahead.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError

from core.errors import Conflict
from cycles.selectors import billing_start_at, finalized_until, month_label
from tenancy.selectors import provider_current

CODE = "cycle_finalized"
CYCLE_FINALIZED = (
    "{when} falls in the billing cycle {label}, which is finalized: its invoices never "
    "change. Correct that month with a credit note against its invoice, or date the "
    "change in an open cycle."
)
BEFORE_START_CODE = "before_billing_start"
BEFORE_BILLING_START = (
    "{when} is before this provider's billing start ({label}, from {start}): nothing "
    "before it is billed. To import older history, an operator moves the billing start "
    "back first: manage.py cycles start --provider {slug} --month YYYY-MM."
)
BEYOND_HORIZON_CODE = "beyond_future_horizon"
BEYOND_HORIZON = (
    "{when} is more than {horizon} ahead of now ({now}): events are accepted up to "
    "{latest}. Send it once it has happened, or ask an operator to widen the provider's "
    "future horizon."
)


def duration_text(delta: timedelta) -> str:
    """A horizon as people say it: "1 day", "36 hours", "90 minutes", "45 seconds"."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


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


class BeforeBillingStart(Conflict):
    """A write dated before the provider's billing start (HTTP 409 `before_billing_start`)."""

    api_code = BEFORE_START_CODE

    def __init__(self, *, field: str, when: datetime, start: datetime, label: str):
        self.field = field
        self.when = when
        self.label = label
        self.text = BEFORE_BILLING_START.format(when=when.isoformat(), label=label,
                                                start=start.isoformat(),
                                                slug=provider_current().slug)
        super().__init__({field: [self.text]})

    @property
    def api_extra(self) -> dict:
        return {"billing_start": self.label}

    def body(self) -> dict:
        return {"status": 409, "code": BEFORE_START_CODE, "message": self.text,
                "billing_start": self.label, "fields": {self.field: [self.text]}}


class BeyondHorizon(ValidationError):
    """An event dated further ahead of now than the provider's future horizon."""

    def __init__(self, *, field: str, when: datetime, now: datetime, latest: datetime):
        self.field = field
        self.latest = latest
        self.text = BEYOND_HORIZON.format(when=when.isoformat(),
                                          horizon=duration_text(latest - now),
                                          now=now.isoformat(), latest=latest.isoformat())
        super().__init__({field: [self.text]})

    def body(self) -> dict:
        return {"status": 400, "code": BEYOND_HORIZON_CODE, "message": self.text,
                "latest": self.latest.isoformat(), "fields": {self.field: [self.text]}}


@dataclass(frozen=True)
class FinalizedBoundary:
    """Where the billable calendar begins and where its frozen past ends, read once for a
    whole batch; with `latest`, also how far ahead an event may be dated."""

    until: datetime | None
    billing_start: datetime | None = None
    now: datetime | None = None
    latest: datetime | None = None

    def refusal(self, when: datetime, *, field: str
                ) -> CycleFinalized | BeforeBillingStart | BeyondHorizon | None:
        # Horizon and start first: an instant far outside them may not even have a
        # billing month Python can compute (year 1 or 9999 in a zone with an offset).
        if self.latest is not None and when > self.latest:
            return BeyondHorizon(field=field, when=when, now=self.now, latest=self.latest)
        if self.billing_start is not None and when < self.billing_start:
            return BeforeBillingStart(field=field, when=when, start=self.billing_start,
                                      label=month_label(self.billing_start))
        if self.until is None or when >= self.until:
            return None
        return CycleFinalized(field=field, when=when, label=month_label(when))


def finalized_boundary(*, now: datetime | None = None) -> FinalizedBoundary:
    """The boundary of dated writes; with `now`, of events too (the future horizon)."""
    latest = None if now is None else now + provider_current().future_horizon
    return FinalizedBoundary(until=finalized_until(), billing_start=billing_start_at(),
                             now=now, latest=latest)


def cycle_guard(when: datetime, *, field: str) -> None:
    """Raise CycleFinalized when `when` falls in a finalized cycle, BeforeBillingStart
    when it comes before the provider's billing start."""
    refused = finalized_boundary().refusal(when, field=field)
    if refused is not None:
        raise refused
