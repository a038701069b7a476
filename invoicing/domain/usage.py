"""Consumer charges: metered usage, one-time and recurring fees, to draft lines. Pure.

Plain values in, plain values out; the loader (invoicing/usage_rating.py) reads
the aggregates, entitlements and charges and writes what this returns next to
the duration lines, in the same drafts.

Rules (PRODUCT.md):
- A metric's usage aggregates per cycle by sum, count, max, unique count or
  latest (`aggregate_quantity`); running time (duration) is rated by the one
  duration engine (invoicing/domain/lines.py), never here.
- Offers: usage is priced by the charge of the entitlement active at the usage
  instant (the loader splits usage by entitlement); usage no entitlement covers
  is unentitled: kept, reported, not billed. A metric an entitlement covers but
  its version does not price is included at no charge (no line).
  Chargeback: usage is priced by the list charge of its metric.
- Free units come off the cycle's quantity before pricing; tiers have inclusive
  upper bounds (catalog/domain/pricing.py).
- A one-time fee bills in the cycle the entitlement starts in. A recurring fee
  is prorated by the seconds the entitlement is active in the cycle, over the
  cycle's seconds (a cycle is a month in the provider's billing zone, so a DST
  month is an hour shorter or longer), rounded once at the line.
- Amounts here are unrounded; the caller rounds once per line.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from catalog.domain.charges import ONE_TIME, RECURRING, ChargeSpec
from catalog.domain.decimals import ZERO
from core.money import round_money
from core.periods import Period

SECONDS_PER_DAY = Decimal(86400)
PLACES = Decimal(1).scaleb(-10)  # quantities and rates are stored with 10 places

UNENTITLED = "no active entitlement of the project's billing account covers this metric's service"
UNPRICED_USAGE = "no list price for this metric"
NO_ACCOUNT_USAGE = "the project bills to no billing account at that time"

SUM, COUNT, MAX, UNIQUE_COUNT, LATEST = "sum", "count", "max", "unique_count", "latest"
# A gauge (GB stored, seats): the value of each reading held until the next one, averaged
# over the rated window; before a project's first reading in the window it is 0.
TIME_WEIGHTED_AVERAGE = "time_weighted_average"
# Aggregations that grow with time (a forecast extrapolates them); the others are levels.
FLOWS = (SUM, COUNT)


def aggregate_quantity(aggregation: str, *, total: Decimal, count: int,
                       maximum: Decimal | None, unique: int, latest: Decimal | None,
                       weighted: Decimal = ZERO, seconds: Decimal = ZERO) -> Decimal:
    """The cycle's quantity of a metric from its aggregates; no usage is 0.

    `weighted` is the sum of each gauge reading times the seconds it held (until the
    next reading or the window's end); `seconds` the rated window's length. Their
    quotient, to 10 places HALF_UP, is the time-weighted average."""
    match aggregation:
        case "sum":
            return total or ZERO
        case "count":
            return Decimal(count)
        case "max":
            return maximum if maximum is not None else ZERO
        case "unique_count":
            return Decimal(unique)
        case "latest":
            return latest if latest is not None else ZERO
        case "time_weighted_average":
            return quantize(weighted / seconds) if seconds > 0 else ZERO
    raise ValueError(f"{aggregation!r} is not aggregated from usage events")


def quantize(value: Decimal) -> Decimal:
    """To the 10 places quantities and rates are stored with, HALF_UP."""
    return value.quantize(PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageAggregate:
    """One metric's usage in the rated window, for one account (and entitlement, offers;
    or one project, chargeback). `entitlement_id` None: no entitlement covered it."""

    billing_account_id: int | None
    entitlement_id: int | None
    metric: str
    aggregation: str
    project_ids: tuple[int, ...]
    total: Decimal = ZERO
    count: int = 0
    maximum: Decimal | None = None
    unique: int = 0
    latest: Decimal | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None
    weighted: Decimal = ZERO  # value x seconds held, for time-weighted averages
    seconds: Decimal = ZERO  # the rated window's length

    @property
    def quantity(self) -> Decimal:
        return aggregate_quantity(self.aggregation, total=self.total, count=self.count,
                                  maximum=self.maximum, unique=self.unique, latest=self.latest,
                                  weighted=self.weighted, seconds=self.seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class EntitlementTerms:
    """An entitlement's window and the charges of its offer version."""

    entitlement_id: int
    billing_account_id: int
    label: str  # "Pro v2"
    start: datetime
    end: datetime | None
    charges: tuple[ChargeSpec, ...] = ()

    def usage_charge(self, metric: str) -> ChargeSpec | None:
        return next((c for c in self.charges if c.is_usage and c.metric == metric), None)


@dataclass(slots=True, kw_only=True)
class ChargeLine:
    """A consumer line before names and rounding: usage, one_time or recurring."""

    billing_account_id: int
    kind: str
    period: Period
    description: str
    quantity: Decimal
    rate: Decimal
    amount: Decimal  # unrounded
    project_id: int | None = None
    metric: str = ""
    label: str = ""
    daily_rate: Decimal = ZERO
    details: dict = field(default_factory=dict)
    # The unit the quantity is counted in when it is not the metric's: "package", or ""
    # for a fee (quantity 1). None: the metric's unit.
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnratedUsage:
    """Usage no line holds, and why (reported to operators, never dropped)."""

    billing_account_id: int | None
    metric: str
    project_ids: tuple[int, ...]
    quantity: Decimal
    events: int
    reason: str


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _grouped(value: Decimal) -> str:
    return format(value.normalize(), ",f")


def _part_lines(charge: ChargeSpec, priced, *, base: dict, description: str
                ) -> list[ChargeLine]:
    """One line per priced part, each quantity × rate = amount: a tier's units at its
    unit price, its flat fee as quantity 1 at the fee; a package price as packages."""
    lines = []
    tiered = charge.model in ("graduated", "volume")
    for part in priced.parts:
        text, unit = description, None
        if charge.model == "package":
            text = f"{description}, packages of {_grouped(charge.package_size)}"
            unit = "package"
        elif charge.model == "flat":
            unit = ""  # a fee: quantity 1 at the fee
        elif tiered:
            bound = "and above" if part.up_to is None else f"up to {_grouped(part.up_to)}"
            text = f"{description}, tier {part.tier} ({bound})"
        if part.quantity > 0 or not tiered:
            lines.append(ChargeLine(**base, description=text, quantity=part.quantity,
                                    rate=part.unit_price, amount=part.quantity * part.unit_price,
                                    unit=unit))
        if part.flat_fee:
            lines.append(ChargeLine(**base, description=f"{text}, flat fee",
                                    quantity=Decimal(1), rate=part.flat_fee,
                                    amount=part.flat_fee, unit=""))
    return lines


def price_usage_line(*, aggregate: UsageAggregate, charge: ChargeSpec, window: Period,
                     label: str = "", description: str) -> list[ChargeLine]:
    """Price one aggregate with `charge`, as lines that each read quantity × rate = amount:
    the free units at rate 0 ("first 1,000 free"), then one line per tier (graduated),
    per flat fee (quantity 1) or for the packages. The first line carries, in its
    details, the charge and the measured quantity (the forecast re-prices from them);
    every line carries the group they share."""
    quantity = aggregate.quantity
    priced = charge.price(quantity)
    billable = priced.billable_quantity
    group = (f"{aggregate.billing_account_id}|{aggregate.entitlement_id or ''}|"
             f"{aggregate.metric}|{','.join(map(str, aggregate.project_ids))}")
    shared = {"usage_group": group, "aggregation": aggregate.aggregation}
    if aggregate.entitlement_id is not None:
        shared["entitlement_id"] = aggregate.entitlement_id
        shared["offer"] = label
    if len(aggregate.project_ids) > 1:
        shared["projects"] = sorted(aggregate.project_ids)
    base = {"billing_account_id": aggregate.billing_account_id, "kind": "usage",
            "period": window, "metric": aggregate.metric, "label": label,
            "project_id": aggregate.project_ids[0] if len(aggregate.project_ids) == 1 else None}
    lines = []
    free_used = min(quantity, priced.free_units)
    if free_used > 0:
        lines.append(ChargeLine(
            **base, description=f"{description}, first {_grouped(priced.free_units)} free",
            quantity=free_used, rate=ZERO, amount=ZERO))
    lines.extend(_part_lines(charge, priced, base=base, description=description))
    if not lines:
        lines.append(ChargeLine(**base, description=description, quantity=billable,
                                rate=ZERO, amount=ZERO))
    for line in lines:
        line.details = dict(shared)
    lines[0].details.update({
        "charge": charge.as_json(), "measured": _plain(quantity),
        "free_units": _plain(priced.free_units), "billable": _plain(billable),
        "events": aggregate.count,
    })
    return lines


def usage_lines(*, aggregates: list[UsageAggregate], terms: dict[int, EntitlementTerms],
                list_charges: dict[str, ChargeSpec] | None, window: Period,
                metric_names: dict[str, str]) -> tuple[list[ChargeLine], list[UnratedUsage]]:
    """Lines for metered usage, and the usage no line holds.

    `list_charges` is None for a provider that sells offers (usage priced by the
    entitlement in `aggregate.entitlement_id`), else the list charges by metric
    (chargeback: entitlements are not consulted).
    """
    lines: list[ChargeLine] = []
    unrated: list[UnratedUsage] = []

    def skip(aggregate: UsageAggregate, reason: str) -> None:
        unrated.append(UnratedUsage(
            billing_account_id=aggregate.billing_account_id, metric=aggregate.metric,
            project_ids=aggregate.project_ids, quantity=aggregate.quantity,
            events=aggregate.count, reason=reason))

    for aggregate in aggregates:
        name = metric_names.get(aggregate.metric, aggregate.metric)
        if aggregate.billing_account_id is None:
            skip(aggregate, NO_ACCOUNT_USAGE)
            continue
        if list_charges is not None:
            charge = list_charges.get(aggregate.metric)
            if charge is None:
                skip(aggregate, UNPRICED_USAGE)
                continue
            lines.extend(price_usage_line(aggregate=aggregate, charge=charge, window=window,
                                          description=f"Usage of {name}"))
            continue
        entitlement = terms.get(aggregate.entitlement_id) if aggregate.entitlement_id else None
        if entitlement is None:
            skip(aggregate, UNENTITLED)
            continue
        charge = entitlement.usage_charge(aggregate.metric)
        if charge is None:
            continue  # covered by the offer and not priced by it: included
        lines.extend(price_usage_line(aggregate=aggregate, charge=charge, window=window,
                                      label=entitlement.label,
                                      description=f"{name} ({entitlement.label})"))
    return lines, unrated


def fixed_fee_lines(*, terms: list[EntitlementTerms], cycle: Period, until: datetime,
                    currency: str = "USD") -> list[ChargeLine]:
    """One-time fees of entitlements starting in the cycle (before `until`), and
    recurring fees prorated by the seconds each is active in `[cycle.start, until)`.

    For an open cycle (`until` before its end) a recurring line covers the time so far
    and carries the daily rate at which it grows while the entitlement stays active,
    so the upcoming invoice can forecast the rest of the cycle.

    Switching offers within a cycle (Pro, then Enterprise, then Pro again) charges each
    one-time fee once per account and cycle: the first entitlement that starts with it
    bills it. A recurring fee that comes to less than the currency's minor unit so far
    (a plan switched away from seconds after accepting it, or one accepted minutes
    before this rating) leaves no line: a line reads a period and an amount, never a
    zero-length or 0.00 one. A plan still active gets its line, with its daily rate,
    from the rating at which it reaches the minor unit.
    """
    until = min(until, cycle.end)
    lines: list[ChargeLine] = []
    if until <= cycle.start:
        return lines
    charged_once: set[tuple[int, str, str]] = set()
    for entitlement in sorted(terms, key=lambda t: (t.start, t.entitlement_id)):
        end = until if entitlement.end is None else min(entitlement.end, until)
        start = max(entitlement.start, cycle.start)
        for charge in entitlement.charges:
            common = {"charge": charge.as_json(), "entitlement_id": entitlement.entitlement_id,
                      "offer": entitlement.label}
            if charge.model == ONE_TIME and cycle.start <= entitlement.start < until:
                once = (entitlement.billing_account_id, charge.charge_id, charge.name)
                if once in charged_once or not charge.amount:
                    continue
                charged_once.add(once)
                lines.append(ChargeLine(
                    billing_account_id=entitlement.billing_account_id, kind=ONE_TIME,
                    period=Period(start=entitlement.start, end=cycle.end),
                    description=f"{charge.name} ({entitlement.label})", quantity=Decimal(1),
                    rate=charge.amount, amount=charge.amount, label=entitlement.label,
                    details={**common, "activated_at": _iso(entitlement.start)},
                ))
            elif charge.model == RECURRING and start < end:
                line = _recurring_line(entitlement, charge, common, Period(start=start, end=end),
                                       cycle=cycle, until=until)
                if round_money(line.amount, currency):
                    lines.append(line)
    return lines


def _recurring_line(entitlement: EntitlementTerms, charge: ChargeSpec, common: dict,
                    active: Period, *, cycle: Period, until: datetime) -> ChargeLine:
    # The line reads fraction × monthly fee = amount: the fraction is stored with 10
    # places and the amount is computed from it, so it does.
    fraction = quantize(active.seconds / cycle.seconds)
    amount = fraction * charge.amount
    still_active = entitlement.end is None or entitlement.end > until
    daily = (charge.amount * SECONDS_PER_DAY / cycle.seconds
             if still_active and until < cycle.end else ZERO)
    return ChargeLine(
        billing_account_id=entitlement.billing_account_id, kind=RECURRING,
        period=active, description=f"{charge.name} ({entitlement.label})",
        quantity=fraction, rate=charge.amount,
        amount=amount, label=entitlement.label, daily_rate=daily,
        details={**common, "proration": {
            "start": _iso(active.start), "end": _iso(active.end),
            "seconds": _plain(active.seconds),
            "cycle_seconds": _plain(cycle.seconds)}},
    )


def forecast_usage_amount(*, charge: ChargeSpec, aggregation: str, quantity: Decimal,
                          elapsed: Period, cycle: Period) -> Decimal:
    """What a usage line will cost at the cycle's end if usage keeps its pace: flows
    (sum, count) scale by cycle time over elapsed time; levels (max, unique count,
    latest) stay. Unrounded."""
    projected = quantity
    if aggregation in FLOWS and elapsed.seconds > 0:
        projected = quantity * cycle.seconds / elapsed.seconds
    return charge.price(projected).amount
