"""The month-end forecast of draft lines: the one computation behind the upcoming
invoice (`usage_rating.upcoming_invoice`, the API) and the dashboards' spend summaries
(`selectors.spend_summary`), so both always say the same amount.

A line grows over the rest of the cycle the way it was priced: running resources and
recurring fees at the daily rate the rating left in `details["daily_rate"]`; sums and
counts of metered usage at their pace so far, re-priced with the charge that priced
them (its tiers and free units included); levels (max, latest, unique count), one-time
fees and credits stay. Lines are grouped per invoice, each forecast from its own
rating instant, and every projected line is rounded once, like a line.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from catalog.domain.charges import charge_spec
from core.money import round_money
from core.periods import Period, timedelta_seconds
from cycles.models import BillingCycle, CycleStatus
from invoicing.domain.usage import SECONDS_PER_DAY, forecast_usage_amount
from invoicing.models import LineKind

_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class ForecastLine:
    """What the forecast reads of one line (an InvoiceLine or a values() row)."""

    invoice_id: int
    kind: str
    metric_key: str
    amount: Decimal
    details: dict
    rated_at: datetime | None


def _daily_rate(details: dict) -> Decimal:
    return Decimal(details.get("daily_rate", "0"))


def _spec_from_details(data: dict, metric: str):
    tiers = data.get("tiers")
    return charge_spec(
        charge_id=data.get("charge_id", ""), model=data["model"], name=data["name"],
        metric=metric or "metric", unit_price=data.get("unit_price"),
        package_size=data.get("package_size"), amount=data.get("amount"),
        tiers=[{"up_to": t["up_to"], "unit_price": t["unit_price"],
                "flat_fee": t.get("flat_fee", "0")} for t in tiers] if tiers else None,
        free_units=data.get("free_units"),
    )


def _invoice_extra(lines: list[ForecastLine], *, cycle: BillingCycle, currency: str
                   ) -> Decimal:
    """What one invoice's lines add by the cycle's end (each projected line rounded)."""
    rated_at = lines[0].rated_at
    if cycle.status != CycleStatus.OPEN or rated_at is None or rated_at >= cycle.end:
        return Decimal(0)
    whole = Period(start=cycle.start, end=cycle.end)
    elapsed = Period(start=cycle.start, end=max(rated_at, cycle.start + _EPSILON))
    remaining = timedelta_seconds(cycle.end - rated_at) / SECONDS_PER_DAY
    extra = Decimal(0)
    # A usage charge is several lines (free units, tiers, fees) sharing a group; the first
    # carries the charge and the measured quantity that the forecast re-prices.
    groups = [(line.details or {}).get("usage_group", f"line-{n}")
              for n, line in enumerate(lines)]
    group_amounts: dict[str, Decimal] = defaultdict(Decimal)
    for group, line in zip(groups, lines, strict=True):
        group_amounts[group] += line.amount
    for group, line in zip(groups, lines, strict=True):
        details = line.details or {}
        extra += _daily_rate(details) * remaining
        if line.kind == LineKind.USAGE and "charge" in details and "aggregation" in details:
            spec = _spec_from_details(details["charge"], line.metric_key)
            projected = forecast_usage_amount(
                charge=spec, aggregation=details["aggregation"],
                quantity=Decimal(details["measured"]), elapsed=elapsed, cycle=whole)
            extra += round_money(projected, currency) - group_amounts[group]
    return extra


def lines_forecast(*, cycle: BillingCycle, lines: Iterable[ForecastLine], currency: str
                   ) -> tuple[Decimal, Decimal]:
    """(total so far, forecast at the cycle's end) of `lines`. Each invoice's forecast is
    rounded once; the forecast of several is the sum of theirs, so an organization's
    forecast is exactly the sum of its accounts' upcoming invoices."""
    by_invoice: dict[int, list[ForecastLine]] = defaultdict(list)
    for line in lines:
        by_invoice[line.invoice_id].append(line)
    total = forecast = Decimal(0)
    for group in by_invoice.values():
        so_far = sum((line.amount for line in group), Decimal(0))
        total += so_far
        forecast += round_money(so_far + _invoice_extra(group, cycle=cycle, currency=currency),
                                currency)
    return total, forecast
