"""Consumer rating for the rating run: metered usage, offer fees and, for providers
that sell offers, running time priced by entitlements, on the one engine.

`consumer_rating` loads what `invoicing/domain/usage.py` needs (usage aggregated
in SQL per account, entitlement and metric; entitlements and their offer
versions' charges; list charges), and, in offers mode, rates running time with
the same duration engine as chargeback (`build_duration_lines`), once per offer
version with the windows in which that version's entitlements cover each
project. The rating run merges all of it into the same drafts.

`upcoming_invoice` reads the draft of the open cycle and forecasts its end.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection

from accounts.models import BillingAccount, Entitlement, ProjectAccountAssignment
from accounts.selectors import EntitlementSpan, entitlements_for_period, project_labels
from catalog.models import Metric, MetricPolicy, OfferVersion
from catalog.selectors import (
    charges_of_price_lists,
    list_usage_charges,
    metric_names,
    metric_services,
    offer_duration_prices,
)
from core.money import round_money
from core.periods import Period, subtract_periods, timedelta_seconds
from cycles.models import BillingCycle
from invoicing.domain.lines import NO_ACCOUNT, AccountWindow, DraftLine, build_duration_lines
from invoicing.domain.usage import (
    TIME_WEIGHTED_AVERAGE,
    ChargeLine,
    EntitlementTerms,
    UnratedUsage,
    UsageAggregate,
    fixed_fee_lines,
    usage_lines,
)
from invoicing.forecast import ForecastLine, lines_forecast
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from metering.models import UsageEvent
from tenancy.selectors import provider_current

UNENTITLED_RUNNING = "no active entitlement covers this resource type's service"


@dataclass
class ConsumerRating:
    duration_lines: list[DraftLine] = field(default_factory=list)
    charge_lines: list[ChargeLine] = field(default_factory=list)
    unrated: list[dict] = field(default_factory=list)


_AGGREGATE_SQL = """
    SELECT a.billing_account_id, {entitlement}, m.key, m.aggregation,
           array_agg(DISTINCT e.project_id ORDER BY e.project_id), sum(e.value), count(*),
           max(e.value), count(DISTINCT e.attributes ->> pol.unique_attribute),
           (array_agg(e.value ORDER BY e.occurred_at DESC, e.id DESC))[1],
           min(e.occurred_at), max(e.occurred_at),
           sum(e.value * EXTRACT(EPOCH FROM (e.held_until - e.occurred_at)))
    FROM {source} e
    JOIN {metric} m ON m.id = e.metric_id
    LEFT JOIN {policy} pol ON pol.metric_id = m.id
    LEFT JOIN {assignment} a ON a.project_id = e.project_id AND a.valid_from <= e.occurred_at
         AND (a.valid_to IS NULL OR a.valid_to > e.occurred_at)
    {lateral}
    WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(until)s
    GROUP BY a.billing_account_id, {entitlement}, m.key, m.aggregation {by_project}
    ORDER BY a.billing_account_id, m.key
"""

# Gauges (time-weighted average): each reading holds until the project's next reading of
# the metric, or the end of the rated window. The window function costs a sort, so it
# runs only for providers that have such a metric.
_EVENTS_HELD = """(
    SELECT ev.*, COALESCE(lead(ev.occurred_at) OVER (
               PARTITION BY ev.project_id, ev.metric_id ORDER BY ev.occurred_at, ev.id),
           %(until)s) AS held_until
    FROM {event} ev WHERE ev.occurred_at >= %(start)s AND ev.occurred_at < %(until)s)"""
_EVENTS = """(
    SELECT ev.*, ev.occurred_at AS held_until
    FROM {event} ev WHERE ev.occurred_at >= %(start)s AND ev.occurred_at < %(until)s)"""

# The entitlement active at the event's instant that covers the metric's service (the
# latest started, should two ever overlap).
_LATERAL = """
    LEFT JOIN LATERAL (
        SELECT en.id FROM {entitlement_table} en
        JOIN {version_services} vs ON vs.offerversion_id = en.offer_version_id
        WHERE en.billing_account_id = a.billing_account_id AND vs.service_id = m.service_id
          AND en.start <= e.occurred_at AND (en."end" IS NULL OR en."end" > e.occurred_at)
        ORDER BY en.start DESC, en.id DESC LIMIT 1
    ) en ON true
"""


def usage_aggregates(*, window: Period, offers: bool) -> list[UsageAggregate]:
    """Usage in `window` aggregated per billing account, metric and entitlement (offers)
    or project (chargeback), split at the instants accounts and entitlements change.
    One query."""
    gauges = Metric.objects.filter(aggregation=TIME_WEIGHTED_AVERAGE).exists()
    source = (_EVENTS_HELD if gauges else _EVENTS).format(event=UsageEvent._meta.db_table)
    tables = {
        "source": source, "metric": Metric._meta.db_table,
        "policy": MetricPolicy._meta.db_table,
        "assignment": ProjectAccountAssignment._meta.db_table,
    }
    if offers:
        lateral = _LATERAL.format(entitlement_table=Entitlement._meta.db_table,
                                  version_services=OfferVersion.services.through._meta.db_table)
        sql = _AGGREGATE_SQL.format(**tables, entitlement="en.id", lateral=lateral,
                                    by_project="")
    else:
        sql = _AGGREGATE_SQL.format(**tables, entitlement="NULL::bigint", lateral="",
                                    by_project=", e.project_id")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"start": window.start, "until": window.end})
        rows = cursor.fetchall()
    return [
        UsageAggregate(
            billing_account_id=account, entitlement_id=entitlement, metric=metric,
            aggregation=aggregation, project_ids=tuple(projects), total=total, count=count,
            maximum=maximum, unique=unique, latest=latest, first_at=first, last_at=last,
            weighted=Decimal(weighted or 0), seconds=timedelta_seconds(window.end - window.start),
        )
        for (account, entitlement, metric, aggregation, projects, total, count, maximum,
             unique, latest, first, last, weighted) in rows
    ]


def entitlement_terms(spans: list[EntitlementSpan]) -> dict[int, EntitlementTerms]:
    charges = charges_of_price_lists(price_list_ids={s.price_list_id for s in spans})
    return {
        s.entitlement_id: EntitlementTerms(
            entitlement_id=s.entitlement_id, billing_account_id=s.billing_account_id,
            label=s.label, start=s.start, end=s.end,
            charges=tuple(charges.get(s.price_list_id, ())),
        )
        for s in spans
    }


def consumer_rating(*, offers: bool, cycle: Period, until: datetime, resources,
                    assignments) -> ConsumerRating:
    """Everything the chargeback duration path does not rate, for `[cycle.start, until)`.

    `resources` and `assignments` are what the rating run already loaded.
    """
    result = ConsumerRating()
    until = min(until, cycle.end)
    if until <= cycle.start:
        return result
    window = Period(start=cycle.start, end=until)
    names = metric_names()
    spans = entitlements_for_period(period=window) if offers else []
    terms = entitlement_terms(spans)
    aggregates = usage_aggregates(window=window, offers=offers)
    lines, unrated = usage_lines(
        aggregates=aggregates, terms=terms,
        list_charges=None if offers else list_usage_charges(at=until - _EPSILON),
        window=window, metric_names=names,
    )
    result.charge_lines.extend(lines)
    result.unrated.extend(_unrated_usage(u) for u in unrated)
    if offers:
        result.charge_lines.extend(
            fixed_fee_lines(terms=list(terms.values()), cycle=cycle, until=until,
                            currency=provider_current().currency))
        _rate_running_time(result, spans, cycle=cycle, until=until, resources=resources,
                           assignments=assignments)
    return result


_EPSILON = timedelta(microseconds=1)


def _unrated_usage(u: UnratedUsage) -> dict:
    return {"metric": u.metric, "billing_account_id": u.billing_account_id,
            "projects": list(u.project_ids), "quantity": str(u.quantity), "events": u.events,
            "reason": u.reason}


def _clip(a, start: datetime, end: datetime | None) -> tuple[datetime, datetime | None] | None:
    lo = max(a.valid_from, start)
    ends = [t for t in (a.valid_to, end) if t is not None]
    hi = min(ends) if ends else None
    if hi is not None and hi <= lo:
        return None
    return lo, hi


def _rate_running_time(result: ConsumerRating, spans: list[EntitlementSpan], *, cycle: Period,
                       until: datetime, resources, assignments) -> None:
    """Offers mode: running time priced by the duration prices of the offer version whose
    entitlement covers the resource's service, through the one duration engine."""
    services = metric_services()
    prices = offer_duration_prices(price_list_ids={s.price_list_id for s in spans})
    by_version: dict[int, list[EntitlementSpan]] = defaultdict(list)
    for span in spans:
        by_version[span.offer_version_id].append(span)
    covered: dict[tuple[int, int | None], list[Period]] = defaultdict(list)
    for version_spans in by_version.values():
        service_ids = version_spans[0].service_ids
        windows = _version_windows(version_spans, assignments, cycle=cycle, covered=covered)
        mine = [r for r in resources if services.get(r.metric_key) in service_ids]
        if not mine or not windows:
            continue
        rating = build_duration_lines(
            resources=mine, prices=prices.get(version_spans[0].price_list_id, []),
            assignments=windows, cycle=cycle, until=until)
        result.duration_lines.extend(rating.lines)
        result.unrated.extend(
            {"resource_id": u.resource_id, "start": u.period.start.isoformat(),
             "end": u.period.end.isoformat(), "reason": u.reason}
            # Outside this version's windows is another version's (or unentitled) time.
            for u in rating.unbilled if u.reason != NO_ACCOUNT)
    _report_unentitled(result, resources, assignments, services=services, covered=covered,
                       cycle=cycle, until=until)


def _version_windows(version_spans: list[EntitlementSpan], assignments, *, cycle: Period,
                     covered: dict[tuple[int, int | None], list[Period]]
                     ) -> list[AccountWindow]:
    """When one offer version's entitlements cover each project (its account's assignment
    clipped to the entitlement), as the duration engine's account windows. Records the
    covered time per (project, service) in `covered`."""
    service_ids = version_spans[0].service_ids
    windows = []
    for a in assignments:
        for span in version_spans:
            if span.billing_account_id != a.billing_account_id:
                continue
            clipped = _clip(a, span.start, span.end)
            if clipped is None:
                continue
            windows.append(AccountWindow(project_id=a.project_id,
                                         billing_account_id=a.billing_account_id,
                                         valid_from=clipped[0], valid_to=clipped[1]))
            for service_id in service_ids:
                covered[(a.project_id, service_id)].append(
                    Period(start=clipped[0], end=clipped[1] or cycle.end))
    return windows


def _report_unentitled(result: ConsumerRating, resources, assignments, *,
                       services: dict, covered: dict[tuple[int, int | None], list[Period]],
                       cycle: Period, until: datetime) -> None:
    """Running time outside every covering entitlement: unentitled, reported."""
    window = Period(start=cycle.start, end=until)
    for resource in resources:
        service_id = services.get(resource.metric_key)
        uncovered = []
        for a in assignments:
            if a.project_id != resource.project_id:
                continue
            clipped = _clip(a, window.start, window.end)
            if clipped is None:
                continue
            span = Period(start=clipped[0], end=clipped[1] or window.end)
            uncovered.extend(subtract_periods(span, covered.get((a.project_id, service_id), [])))
        if not uncovered:
            continue
        gaps = [AccountWindow(project_id=resource.project_id, billing_account_id=0,
                              valid_from=p.start, valid_to=p.end) for p in uncovered]
        rating = build_duration_lines(resources=[resource], prices=[], assignments=gaps,
                                      cycle=cycle, until=until)
        result.unrated.extend(
            {"resource_id": u.resource_id, "start": u.period.start.isoformat(),
             "end": u.period.end.isoformat(), "reason": UNENTITLED_RUNNING}
            for u in rating.unbilled)


# --- writing lines (called by the rating run) ------------------------------------------


class ChargeLineNames:
    """What consumer lines print, looked up once per run."""

    def __init__(self) -> None:
        self.projects = project_labels()
        self.metrics = dict(Metric.objects.values_list("key", "unit"))

    def invoice_line(self, invoice: Invoice, line: ChargeLine, currency: str,
                     position: int) -> InvoiceLine:
        project_name, organization_name = self.projects.get(line.project_id, ("", ""))
        unit = self.metrics.get(line.metric, "") if line.kind == LineKind.USAGE else (
            "month" if line.kind == LineKind.RECURRING else "")
        if line.unit is not None:
            unit = line.unit
        details = dict(line.details)
        if line.daily_rate:
            details["daily_rate"] = str(line.daily_rate)
        return InvoiceLine(
            invoice=invoice, kind=line.kind, period_start=line.period.start,
            period_end=line.period.end, project_id=line.project_id, project_name=project_name,
            organization_name=organization_name, metric_key=line.metric,
            description=line.description[:300], resource_label=line.label[:300],
            quantity=line.quantity, unit=unit[:20], rate=line.rate,
            amount=round_money(line.amount, currency), details=details,
            sort_key=f"~{line.kind}|{line.label}|{line.metric}|{project_name}|"
            f"{line.period.start.isoformat()}|{position:06d}",
        )


# --- the upcoming invoice --------------------------------------------------------------


@dataclass(frozen=True)
class UpcomingInvoice:
    billing_account: BillingAccount
    cycle: BillingCycle | None
    invoice: Invoice | None
    lines: list[InvoiceLine]
    currency: str
    total: Decimal
    forecast: Decimal
    rated_until: datetime | None


def upcoming_invoice(*, billing_account: BillingAccount, now: datetime,
                     currency: str) -> UpcomingInvoice:
    """The draft of the open cycle containing `now` for the account (as the last rating
    run left it) and its forecast at the cycle's end (`invoicing.forecast`, the one the
    dashboards show). Two queries."""
    cycle = BillingCycle.objects.filter(start__lte=now, end__gt=now).first()
    invoice = None
    lines: list[InvoiceLine] = []
    if cycle is not None:
        invoice = (Invoice.objects.filter(billing_account=billing_account, cycle=cycle)
                   .exclude(status=InvoiceStatus.VOID).prefetch_related("lines").first())
    if invoice is not None:
        lines = list(invoice.lines.all())
    rated_until = invoice.rated_at if invoice is not None else None
    total = sum((line.amount for line in lines), Decimal(0))
    forecast = total
    if cycle is not None:
        total, forecast = lines_forecast(cycle=cycle, currency=currency, lines=[
            ForecastLine(invoice_id=line.invoice_id, kind=line.kind,
                         metric_key=line.metric_key or "", amount=line.amount,
                         details=line.details or {}, rated_at=rated_until)
            for line in lines])
    return UpcomingInvoice(billing_account=billing_account, cycle=cycle, invoice=invoice,
                           lines=lines, currency=currency, total=total, forecast=forecast,
                           rated_until=rated_until)
