"""The rating run: recompute a cycle's draft invoices from usage, prices and accounts.

Safe to repeat and cheap enough to run every few minutes: it reads its inputs
in a handful of queries (a chargeback provider's running time summed in SQL,
`invoicing/duration_sql.py`), prices them with the pure functions of
`invoicing/domain/`, and replaces the draft lines of the cycle's draft invoices
in one transaction. Finalized and void invoices are never touched. Runs of one
cycle serialize on the cycle's row.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from accounts.selectors import assignments_for_period, project_labels, project_organization_ids
from catalog.selectors import (
    credit_non_cascading_types,
    metric_names,
    prices_for_rating,
    variant_descriptions,
)
from core.fields import QUANTITY_PLACES
from core.money import round_money
from core.periods import Period
from cycles.clock import real_now
from cycles.models import BillingCycle, CycleStatus
from invoicing.domain.credit_lines import CoveredResource, CreditLine, build_credit_lines
from invoicing.domain.lines import DraftLine, DurationRating, build_duration_lines
from invoicing.domain.usage import ChargeLine
from invoicing.duration_sql import duration_rating_sql
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus, LineKind, RatingRun
from invoicing.selectors import credits_for_period
from invoicing.signals import cycle_rated
from invoicing.usage_rating import ChargeLineNames, ConsumerRating, consumer_rating
from metering.selectors import lifecycle_for_period, projects_with_usage_received
from tenancy.models import BillingMode
from tenancy.selectors import provider_current

logger = logging.getLogger(__name__)

UNBILLED_SAMPLE = 50
QUANTITY_QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)


@dataclass(frozen=True)
class RatingRunResult:
    cycle: str
    rated_until: datetime
    resources: int
    lines: int
    invoices: int
    unbilled: int
    skipped: bool = False


def rating_run(*, cycle: BillingCycle, now: datetime,
               usage_since: datetime | None = None) -> RatingRunResult:
    """Rate `cycle` up to `now` (or its end, once past it) into its draft invoices.

    With `usage_since`, an incremental run: only the drafts of the billing accounts
    whose projects received usage (lifecycle or usage events) from `usage_since` on
    are recomputed, from all of their usage; the other drafts stay as they are. It is
    exact when nothing but usage changed since the run `usage_since` precedes (give
    a margin for batches in flight): after a price, assignment or credit change, rate
    in full. A provider that sells offers is always rated in full.
    """
    provider = provider_current()
    # Earth's clock, as the audit log's: what changed since is read against it.
    recorded_at = real_now()  # before the inputs are read
    with transaction.atomic():
        cycle = BillingCycle.objects.select_for_update().get(pk=cycle.pk)
        until = min(now, cycle.end)
        if cycle.status == CycleStatus.CLOSED or until <= cycle.start:
            return RatingRunResult(cycle=cycle.label, rated_until=until, resources=0, lines=0,
                                   invoices=0, unbilled=0, skipped=True)
        # A provider that sells offers prices running time by entitlements (consumer
        # rating, same duration engine); a chargeback one by its list prices.
        offers = provider.billing_mode == BillingMode.OFFERS
        inputs = _inputs_load(cycle, until, usage_since=usage_since, offers=offers)
        rated = _rate(inputs, until, offers=offers)
        drafts = _drafts_by_account(rated, frozen=_frozen_accounts(cycle, rated, inputs.accounts))
        invoices = _write_drafts(cycle, drafts, provider.currency, until, inputs.accounts)
        result = _run_record(cycle, rated, drafts, now=now, until=until, recorded_at=recorded_at,
                             resources=rated.resources, invoices=invoices)
    logger.info("rated %s", result)
    cycle_rated.send(sender=RatingRun, cycle_id=cycle.pk, now=now)
    return result


@dataclass(frozen=True)
class _Inputs:
    """What a run reads: the cycle's project assignments, narrowed for an incremental run
    to the billing accounts (`accounts`) it rewrites and their `projects`."""

    period: Period
    rated: Period
    assignments: list
    accounts: set[int] | None  # None: every account
    projects: set[int] | None  # None: every project

    def resources(self) -> list:
        """The resources' lifecycles, for the paths that rate resource by resource."""
        return lifecycle_for_period(period=self.rated, project_ids=self.projects)


def _inputs_load(cycle: BillingCycle, until: datetime, *, usage_since: datetime | None,
                 offers: bool) -> _Inputs:
    period = Period(start=cycle.start, end=cycle.end)
    rated = Period(start=cycle.start, end=until)
    assignments = assignments_for_period(period=period)
    if usage_since is None or offers:
        return _Inputs(period=period, rated=rated, assignments=assignments, accounts=None,
                       projects=None)
    touched = projects_with_usage_received(since=usage_since, period=rated)
    accounts, projects = _accounts_and_projects(touched, assignments)
    return _Inputs(
        period=period, rated=rated, accounts=accounts, projects=projects,
        assignments=[a for a in assignments if a.project_id in projects],
    )


@dataclass(frozen=True)
class _Rated:
    """Every kind of line one run computes, before it is split by draft."""

    duration: DurationRating  # chargeback running time (list prices)
    consumer: ConsumerRating  # usage, fees and, for offers, running time by entitlement
    credits: list[CreditLine]
    resources: int


def _rate(inputs: _Inputs, until: datetime, *, offers: bool) -> _Rated:
    prices = prices_for_rating(period=inputs.period)
    credits = credits_for_period(period=inputs.period)
    if offers or credits:
        # Entitlements and credits need each resource and segment: rate one by one.
        resources = inputs.resources()
        duration = build_duration_lines(
            resources=resources if not offers else [], prices=prices,
            assignments=inputs.assignments, cycle=inputs.period, until=until,
        )
        count = len(resources)
    else:
        # Chargeback without credits: running time summed in SQL (invoicing/duration_sql.py).
        resources = []
        duration, count = duration_rating_sql(
            rated=inputs.rated, cycle=inputs.period, prices=prices,
            assignments=inputs.assignments, project_ids=inputs.projects,
        )
    consumer = consumer_rating(offers=offers, cycle=inputs.period, until=until,
                               resources=resources, assignments=inputs.assignments)
    return _Rated(duration=duration, consumer=consumer, resources=count,
                  credits=_credit_lines(credits, resources, duration))


def _frozen_accounts(cycle: BillingCycle, rated: _Rated, accounts: set[int] | None) -> set[int]:
    """Accounts whose draft this run leaves alone: already issued, or (incremental) not
    among `accounts`."""
    frozen = set(
        Invoice.objects.filter(cycle=cycle)
        .exclude(status=InvoiceStatus.DRAFT)
        .values_list("billing_account_id", flat=True)
    )
    if accounts is not None:
        frozen |= {line.key.billing_account_id for line in rated.duration.lines
                   if line.key.billing_account_id not in accounts}
        frozen |= {c.billing_account_id for c in rated.consumer.charge_lines
                   if c.billing_account_id not in accounts}
        frozen |= {c.key.billing_account_id for c in rated.credits
                   if c.key.billing_account_id not in accounts}
    return frozen


@dataclass(frozen=True)
class _Drafts:
    """The lines of each draft this run rewrites, by billing account."""

    lines: dict[int, list[DraftLine]]  # running time (chargeback and offers)
    charges: dict[int, list[ChargeLine]]  # consumer usage and fees
    credits: dict[int, list[CreditLine]]

    @property
    def line_count(self) -> int:
        return (sum(len(v) for v in self.lines.values())
                + sum(len(v) for v in self.charges.values()))


def _drafts_by_account(rated: _Rated, *, frozen: set[int]) -> _Drafts:
    lines: dict[int, list[DraftLine]] = defaultdict(list)
    for line in [*rated.duration.lines, *rated.consumer.duration_lines]:
        if line.key.billing_account_id not in frozen:
            lines[line.key.billing_account_id].append(line)
    credits: dict[int, list[CreditLine]] = defaultdict(list)
    for credit_line in rated.credits:
        if credit_line.key.billing_account_id not in frozen:
            credits[credit_line.key.billing_account_id].append(credit_line)
    charges: dict[int, list[ChargeLine]] = defaultdict(list)
    for charge_line in rated.consumer.charge_lines:
        if charge_line.billing_account_id not in frozen:
            charges[charge_line.billing_account_id].append(charge_line)
    return _Drafts(lines=lines, charges=charges, credits=credits)


def _run_record(cycle: BillingCycle, rated: _Rated, drafts: _Drafts, *, now: datetime,
                until: datetime, recorded_at: datetime, resources: int,
                invoices: int) -> RatingRunResult:
    """The run's row (with a sample of the running time no line holds) and its result."""
    unbilled = [
        {"resource_id": u.resource_id, "start": u.period.start.isoformat(),
         "end": u.period.end.isoformat(), "reason": u.reason}
        for u in rated.duration.unbilled[:UNBILLED_SAMPLE]
    ]
    unbilled += rated.consumer.unrated[:UNBILLED_SAMPLE - len(unbilled)]
    unbilled_count = len(rated.duration.unbilled) + len(rated.consumer.unrated)
    RatingRun.objects.create(
        cycle=cycle, started_at=now, finished_at=now, rated_until=until,
        recorded_at=recorded_at, resources=resources, lines=drafts.line_count,
        invoices=invoices, unbilled_count=unbilled_count, unbilled_sample=unbilled,
    )
    return RatingRunResult(
        cycle=cycle.label, rated_until=until, resources=resources,
        lines=drafts.line_count, invoices=invoices, unbilled=unbilled_count,
    )


def _credit_lines(credits, resources, rating) -> list[CreditLine]:
    if not credits:
        return []
    organization_of = project_organization_ids()
    covered = [
        CoveredResource(
            pk=r.pk, resource_id=r.resource_id, project_id=r.project_id,
            organization_id=organization_of.get(r.project_id, 0), metric_key=r.metric_key,
            region=r.region, parent_pk=r.parent_pk,
        )
        for r in resources
    ]
    return build_credit_lines(credits=credits, resources=covered, segments=rating.segments,
                              not_cascading=credit_non_cascading_types())


def _accounts_and_projects(touched: set[int], assignments) -> tuple[set[int], set[int]]:
    """The accounts the `touched` projects bill to in the cycle, and every project those
    accounts bill for: closed under both (a project moved during the cycle splits its
    usage between two accounts, and each of their drafts is rewritten whole)."""
    accounts: set[int] = set()
    projects = set(touched)
    while True:
        more_accounts = {a.billing_account_id for a in assignments if a.project_id in projects}
        more_projects = {a.project_id for a in assignments
                         if a.billing_account_id in more_accounts}
        if more_accounts <= accounts and more_projects <= projects:
            return accounts, projects
        accounts |= more_accounts
        projects |= more_projects


def _write_drafts(cycle: BillingCycle, drafts: _Drafts, currency: str, until: datetime,
                  accounts: set[int] | None = None) -> int:
    """Replace the lines of the cycle's drafts (of `accounts` only, when given)."""
    lines_by_account, credits_by_account = drafts.lines, drafts.credits
    charges_by_account = drafts.charges
    names = _Names.load(creator_ids={
        line.key.creator_id for lines in lines_by_account.values() for line in lines
    } - {None})
    # Consumer lines (usage, one-time, recurring): invoicing/usage_rating.py.
    charge_names = ChargeLineNames() if charges_by_account else None
    drafts_query = Invoice.objects.select_for_update().filter(
        cycle=cycle, status=InvoiceStatus.DRAFT
    )
    if accounts is not None:
        drafts_query = drafts_query.filter(billing_account_id__in=accounts)
    drafts = {invoice.billing_account_id: invoice for invoice in drafts_query}
    # Read after the drafts' locks: a closer that finalized some of them while this
    # run was rating has committed, and those accounts are left alone.
    issued = set(Invoice.objects.filter(cycle=cycle).exclude(status=InvoiceStatus.DRAFT)
                 .values_list("billing_account_id", flat=True))
    missing = sorted({*lines_by_account, *credits_by_account, *charges_by_account}
                     - issued - set(drafts))
    # One INSERT for the new drafts (the first run of a month makes one per account).
    for invoice in Invoice.objects.bulk_create(
        [Invoice(billing_account_id=account_id, cycle=cycle, currency=currency)
         for account_id in missing], batch_size=2000,
    ):
        drafts[invoice.billing_account_id] = invoice
    InvoiceLine.objects.filter(invoice__in=list(drafts.values())).delete()
    rows = []
    for account_id, invoice in drafts.items():
        subtotal = Decimal(0)
        for position, line in enumerate(lines_by_account.get(account_id, [])):
            row = names.line(invoice, line, currency, position)
            subtotal += row.amount
            rows.append(row)
        for position, charge_line in enumerate(charges_by_account.get(account_id, [])):
            row = charge_names.invoice_line(invoice, charge_line, currency, position)
            subtotal += row.amount
            rows.append(row)
        total = subtotal
        for credit_line in credits_by_account.get(account_id, []):
            row = names.credit_line(invoice, credit_line, currency)
            total += row.amount
            rows.append(row)
        invoice.subtotal, invoice.total = subtotal, total
        invoice.currency = currency
        invoice.rated_at = until
    InvoiceLine.objects.bulk_create(rows, batch_size=2000)
    _drafts_totals_set(list(drafts.values()), currency=currency, rated_at=until)
    return len(drafts)


def _drafts_totals_set(invoices: list[Invoice], *, currency: str, rated_at: datetime) -> None:
    """The drafts' totals in one UPDATE from arrays (bulk_update's CASE per row costs
    seconds of query building for thousands of drafts)."""
    if not invoices:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {Invoice._meta.db_table} i
                SET subtotal = v.subtotal, total = v.total, currency = %s, rated_at = %s
                FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[])
                     AS v(id, subtotal, total)
                WHERE i.id = v.id""",
            [currency, rated_at, [i.pk for i in invoices], [i.subtotal for i in invoices],
             [i.total for i in invoices]])


@dataclass
class _Names:
    """What a line prints, looked up once per run."""

    projects: dict[int, tuple[str, str]]
    metrics: dict[str, str]
    variants: dict[tuple[str, str], str]
    creators: dict[int, str]  # user id -> username, of the lines' resources' creators

    @classmethod
    def load(cls, *, creator_ids: set[int]) -> "_Names":
        creators = dict(get_user_model().objects.filter(pk__in=creator_ids)
                        .values_list("pk", "username")) if creator_ids else {}
        return cls(projects=project_labels(), metrics=metric_names(),
                   variants=variant_descriptions(), creators=creators)

    def _resource_fields(self, key) -> dict:
        """The columns a duration line and a credit on it share: where, what, for whom."""
        project_name, organization_name = self.projects.get(key.project_id, ("", ""))
        metric_name = self.metrics.get(key.metric_key, key.metric_key)
        variant_text = self.variants.get((key.metric_key, key.variant), key.variant)
        return {
            "project_id": key.project_id, "project_name": project_name,
            "organization_name": organization_name, "metric_key": key.metric_key,
            "variant": key.variant, "region": key.region, "service_class": key.service_class,
            "resource_label": f"{metric_name}: {variant_text}", "unit": key.unit.value,
            "rate": key.rate, "price_id": int(key.price_id),
            # Not columns: for the description.
            "_metric_name": metric_name, "_variant_text": variant_text,
        }

    def line(self, invoice, line: DraftLine, currency: str, position: int) -> InvoiceLine:
        key = line.key
        fields = self._resource_fields(key)
        metric_name, variant_text = fields.pop("_metric_name"), fields.pop("_variant_text")
        project_name = fields["project_name"]
        return InvoiceLine(
            invoice=invoice, kind=LineKind.USAGE, period_start=line.start, period_end=line.end,
            description=(
                f"Usage of {variant_text} {metric_name.lower()} resources "
                f"for project {project_name}"
            ),
            resource_count=len(line.resource_pks),
            created_by_id=key.creator_id,
            created_by_name=self.creators.get(key.creator_id, ""),
            quantity=line.quantity,
            amount=round_money(line.amount, currency),
            details={
                "daily_rate": str(line.daily_rate),
                "running": len(line.running_pks),
                "service_class": key.service_class,
            },
            sort_key=f"{project_name}|{key.metric_key}|{key.variant}|{key.region}|"
            f"{key.service_class}|{line.start.isoformat()}|{position:06d}",
            **fields,
        )

    def credit_line(self, invoice, line: CreditLine, currency: str) -> InvoiceLine:
        """A negative line: the credit's name and description, the time it gave back."""
        key = line.key
        fields = self._resource_fields(key)
        del fields["_metric_name"], fields["_variant_text"]
        return InvoiceLine(
            invoice=invoice, kind=LineKind.CREDIT, period_start=line.start, period_end=line.end,
            description=f"{line.name}: {line.description}"[:300],
            resource_count=len(line.resource_ids),
            quantity=line.quantity.quantize(QUANTITY_QUANTUM, rounding=ROUND_HALF_UP),
            amount=round_money(line.amount, currency),
            details={
                "credit_id": key.credit_id,
                "credit_name": line.name,
                "credit_description": line.description,
                "window_start": line.window.start.isoformat(),
                "window_end": line.window.end.isoformat(),
            },
            sort_key=f"~credit|{line.window.start.isoformat()}|{key.credit_id:09d}|"
            f"{fields['project_name']}|{key.metric_key}|{key.variant}",
            **fields,
        )
