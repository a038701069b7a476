"""FOCUS 1.0 (the FinOps Open Cost and Usage Specification): a billing month's invoice
lines as cost and usage rows, the format FinOps platforms and cloud cost tools read.

One row per charge, one charge per invoice line: usage lines are `Usage`, one-time and
recurring offer charges `Purchase`, SLA credits `Credit`. The month's rows are the lines
of its invoices that count (drafts while the cycle is open, issued ones after; void
invoices do not), so the BilledCost column adds up to the invoice totals to the cent:
every cost is the line's amount, already rounded once at the line.

Columns carry FOCUS 1.0's names. Where the official focus-validator (1.0.x) still reads
the earlier names (Provider, Publisher, InvoiceIssuer, ResourceID, and ChargeType in one
rule), those columns are written as well, with the same values, so the file passes it
and reads right in tools that follow the released spec. Ids are never bare numbers
(`ba-12`, `price-7`): FOCUS ids are strings, and CSV readers would take digits for
numbers.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from catalog.models import Aggregation, Metric
from cycles.models import BillingCycle
from invoicing.models import InvoiceLine, LineKind
from invoicing.selectors import billed_lines
from tenancy.selectors import provider_current

FOCUS_VERSION = "1.0"

COLUMNS = (
    "BillingAccountId", "BillingAccountName", "BillingPeriodStart", "BillingPeriodEnd",
    "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ConsumedQuantity", "ConsumedUnit",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ListUnitPrice", "ListCost",
    "ContractedUnitPrice", "ContractedCost", "BilledCost", "EffectiveCost", "BillingCurrency",
    "InvoiceIssuerName", "ProviderName", "PublisherName", "RegionId", "RegionName",
    "AvailabilityZone", "ResourceId", "ResourceName", "ResourceType", "ServiceName",
    "ServiceCategory", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName",
    "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName",
    "CommitmentDiscountStatus", "CommitmentDiscountType", "Tags",
    # The names focus-validator 1.0.x checks for these four (see the module's docstring).
    "ChargeType", "InvoiceIssuer", "Provider", "Publisher", "ResourceID",
)
DECIMAL_COLUMNS = frozenset({
    "ConsumedQuantity", "PricingQuantity", "ListUnitPrice", "ListCost", "ContractedUnitPrice",
    "ContractedCost", "BilledCost", "EffectiveCost",
})
DATETIME_COLUMNS = frozenset({
    "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
})

CHARGE_CATEGORY = {
    LineKind.USAGE: "Usage", LineKind.ONE_TIME: "Purchase",
    LineKind.RECURRING: "Purchase", LineKind.CREDIT: "Credit",
}
CHARGE_FREQUENCY = {
    LineKind.USAGE: "Usage-Based", LineKind.ONE_TIME: "One-Time",
    LineKind.RECURRING: "Recurring", LineKind.CREDIT: "One-Time",
}
# FOCUS's ServiceCategory for the resource types of the chargeback seed; a metric of
# another kind is "Other" (the spec's own fallback).
SERVICE_CATEGORY_OF_TYPE = {
    "instance": "Compute", "vm": "Compute", "gpu": "Compute", "disk": "Storage",
    "volume": "Storage", "bucket": "Storage", "snapshot": "Storage", "vpc": "Networking",
    "ip": "Networking", "nic": "Networking", "loadbalancer": "Networking",
    "database": "Databases",
}


@dataclass(frozen=True)
class _MetricInfo:
    name: str
    unit: str
    service: str
    is_resource_type: bool


def focus_instant(value: datetime) -> str:
    """FOCUS date-times: ISO 8601 in UTC with a Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(value: Decimal) -> str:
    """A decimal as FOCUS writes it, always with a fraction ("669600.0", "0.1"): readers
    that guess column types (pandas, which focus-validator uses) would take a column of
    whole numbers for integers, not decimals."""
    text = format(value.normalize(), "f")
    if text.startswith("-0") and Decimal(text) == 0:
        text = text[1:]
    return text if "." in text else f"{text}.0"


def _money(value: Decimal) -> str:
    """A cost as the invoice line holds it, to the currency's minor unit ("69750.00")."""
    text = format(value, "f")
    return text if "." in text else f"{text}.0"


def _metrics() -> dict[str, _MetricInfo]:
    rows = Metric.objects.select_related("service").values_list(
        "key", "name", "unit", "service__name", "aggregation")
    return {key: _MetricInfo(name, unit, service or "", aggregation == Aggregation.DURATION)
            for key, name, unit, service, aggregation in rows}


def focus_lines(*, cycle: BillingCycle, organization_ids=None):
    """The lines the month's FOCUS rows come from, in invoice order (`organization_ids`:
    only those organizations' billing accounts; None: every one)."""
    lines = billed_lines(cycle=cycle).select_related("invoice__billing_account", "invoice")
    if organization_ids is not None:
        lines = lines.filter(invoice__billing_account__organization_id__in=organization_ids)
    return lines.order_by("invoice__billing_account_id", "invoice_id", "sort_key", "id")


def focus_rows(*, cycle: BillingCycle, organization_ids=None) -> list[dict]:
    """The month's FOCUS rows: one dict per charge, every column of COLUMNS (None where
    the column is null for that charge)."""
    provider = provider_current().name
    metrics = _metrics()
    return [_row(line, cycle=cycle, provider=provider, metrics=metrics)
            for line in focus_lines(cycle=cycle, organization_ids=organization_ids)]


def _resource(line: InvoiceLine) -> tuple[str | None, str | None]:
    """(ResourceId, ResourceName): a line priced for one named resource names it; a
    line grouping resources (by type, variant, region and price) has none: FOCUS
    leaves both null when a charge is not of one resource."""
    ids = line.details.get("resources") if isinstance(line.details, dict) else None
    if isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], str):
        return ids[0], ids[0]
    return None, None


def _sku_price(line: InvoiceLine) -> str | None:
    """The price that priced the line: its list price, else (an offer's price, kept in
    the line's details) the metric, variant and rate; none for a credit."""
    if line.kind == LineKind.CREDIT:
        return None
    if line.price_id:
        return f"price-{line.price_id}"
    parts = [p for p in (line.metric_key, line.variant) if p]
    return f"{'/'.join(parts) or line.kind}@{_plain(line.rate)}"


def _row(line: InvoiceLine, *, cycle: BillingCycle, provider: str,
         metrics: dict[str, _MetricInfo]) -> dict:
    invoice = line.invoice
    account = invoice.billing_account
    metric = metrics.get(line.metric_key)
    kind = line.kind
    is_usage = kind == LineKind.USAGE
    is_credit = kind == LineKind.CREDIT
    resource_id, resource_name = _resource(line)
    amount = _money(line.amount)
    rate = None if is_credit else _plain(line.rate)
    quantity = None if is_credit else _plain(line.quantity)
    unit = line.unit or (metric.unit if metric else "") or None
    service = (metric.service or metric.name) if metric else provider
    tags = {"organization": line.organization_name or account.organization_id,
            "invoice": invoice.number or f"draft-{invoice.pk}", "invoice_status": invoice.status}
    for key in ("variant", "service_class"):
        if getattr(line, key):
            tags[key] = getattr(line, key)
    row = {
        "BillingAccountId": f"ba-{account.pk}", "BillingAccountName": account.name,
        "BillingPeriodStart": focus_instant(cycle.start),
        "BillingPeriodEnd": focus_instant(cycle.end),
        "ChargePeriodStart": focus_instant(line.period_start),
        "ChargePeriodEnd": focus_instant(line.period_end),
        "ChargeCategory": CHARGE_CATEGORY[kind], "ChargeClass": None,
        "ChargeDescription": line.description, "ChargeFrequency": CHARGE_FREQUENCY[kind],
        "ConsumedQuantity": quantity if is_usage else None,
        "ConsumedUnit": unit if is_usage else None,
        "PricingCategory": None if is_credit else "Standard",
        "PricingQuantity": quantity, "PricingUnit": None if is_credit else unit,
        "ListUnitPrice": rate, "ListCost": amount, "ContractedUnitPrice": rate,
        "ContractedCost": amount, "BilledCost": amount, "EffectiveCost": amount,
        "BillingCurrency": invoice.currency,
        "InvoiceIssuerName": provider, "ProviderName": provider, "PublisherName": provider,
        "RegionId": line.region or None, "RegionName": line.region or None,
        "AvailabilityZone": None, "ResourceId": resource_id, "ResourceName": resource_name,
        "ResourceType": (metric.name if metric and metric.is_resource_type else None),
        "ServiceName": service,
        "ServiceCategory": SERVICE_CATEGORY_OF_TYPE.get(line.metric_key, "Other"),
        "SkuId": "/".join(p for p in (line.metric_key, line.variant) if p) or None,
        "SkuPriceId": _sku_price(line),
        "SubAccountId": line.project_name or None, "SubAccountName": line.project_name or None,
        "CommitmentDiscountCategory": None, "CommitmentDiscountId": None,
        "CommitmentDiscountName": None, "CommitmentDiscountStatus": None,
        "CommitmentDiscountType": None,
        "Tags": json.dumps(tags, sort_keys=True, default=str),
    }
    row["ChargeType"] = row["ChargeCategory"]
    row["InvoiceIssuer"] = row["InvoiceIssuerName"]
    row["Provider"] = row["ProviderName"]
    row["Publisher"] = row["PublisherName"]
    row["ResourceID"] = row["ResourceId"]
    return row
