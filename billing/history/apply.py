"""Applying a history file's records through the services the API uses, idempotently.

Every record goes through the same service (and so the same refusals) as its API
call: the calendar's guard refuses what falls before the billing start or in a
finalized cycle, ingestion answers event by event. What is already there is
reported `unchanged` and left alone, so a file can be imported again after fixing
the records it refused: events by their ids, prices by their key, instant, rate and
unit, the rest by their names (a credit by its name, window and scope).
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import BillingAccount, Organization, PaymentKind, Project
from accounts.organizations import billing_contact_add, organization_create
from accounts.projects import project_create
from billing.history.records import KINDS, Record
from catalog.models import Metric, Price, PriceChangeSource, Region, Variant
from catalog.services.list_prices import price_set
from catalog.services.metrics import metric_create
from catalog.services.resource_types import (
    ResourceTypeNotFound,
    region_create,
    resource_type_create,
    variant_add,
)
from invoicing.credits import credit_create
from invoicing.models import Credit
from metering.ingestion import MAX_BATCH, instant_parse
from metering.lifecycle_ingest import lifecycle_events_ingest
from metering.models import Resource
from metering.usage_ingest import usage_events_ingest

CREATED, UNCHANGED, REFUSED = "created", "unchanged", "refused"
ERR_NOT_FOUND = "no {what} {name!r} (import it first, or create it in the admin)"
ERR_RATE = "rate must be a decimal number, e.g. 0.10"
ERR_INSTANT = "{field} {reason}"


@dataclass(frozen=True, slots=True)
class Outcome:
    line: int
    kind: str
    status: str
    reason: str = ""


class Refused(Exception):
    """A record this importer refuses before calling a service."""


def records_apply(records: list[Record], *, now: datetime,
                  advance: Callable[[int], None]) -> list[Outcome]:
    """Apply `records` kind by kind (records.KINDS order); one outcome per record.
    `advance(n)` is told as records are done (the progress bar)."""
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_kind[record.kind].append(record)
    outcomes: list[Outcome] = []
    for kind in KINDS:
        batch = by_kind.get(kind, [])
        if kind in ("event", "usage"):
            outcomes += _ingest(kind, batch, now=now, advance=advance)
            continue
        for record in batch:
            outcomes.append(_one(record, now=now))
            advance(1)
    return outcomes


def _one(record: Record, *, now: datetime) -> Outcome:
    apply = _APPLY[record.kind]
    try:
        with transaction.atomic():  # a refused record leaves nothing behind
            status = apply(record.fields, now)
    except Refused as refused:
        return Outcome(record.line, record.kind, REFUSED, str(refused))
    except ResourceTypeNotFound as missing:
        return Outcome(record.line, record.kind, REFUSED, str(missing))
    except ValidationError as invalid:  # the service's refusal, Conflict (409) included
        return Outcome(record.line, record.kind, REFUSED, _reasons(invalid))
    return Outcome(record.line, record.kind, status)


def _reasons(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {message}" for field, messages in error.message_dict.items()
                         for message in messages)
    return "; ".join(error.messages)


def _instant(fields: dict, name: str) -> datetime | None:
    if name not in fields:
        return None
    at = instant_parse(fields[name])
    if isinstance(at, str):
        raise Refused(ERR_INSTANT.format(field=name, reason=at))
    return at


def _named(model, what: str, **lookup):
    found = model.objects.filter(**lookup).first()
    if found is None:
        raise Refused(ERR_NOT_FOUND.format(what=what, name=next(iter(lookup.values()))))
    return found


# --- one record of each kind -----------------------------------------------------------------


def _region(f: dict, now: datetime) -> str:
    if Region.objects.filter(key=f["key"]).exists():
        return UNCHANGED
    region_create(key=f["key"], name=f["name"])
    return CREATED


def _resource_type(f: dict, now: datetime) -> str:
    if Metric.objects.filter(key=f["key"]).exists():
        return UNCHANGED
    resource_type_create(key=f["key"], name=f["name"], unit=f.get("unit", ""),
                         description=f.get("description", ""))
    return CREATED


def _variant(f: dict, now: datetime) -> str:
    if Variant.objects.filter(metric__key=f["resource_type"], key=f["key"]).exists():
        return UNCHANGED
    variant_add(metric_key=f["resource_type"], key=f["key"], description=f["description"])
    return CREATED


def _metric(f: dict, now: datetime) -> str:
    if Metric.objects.filter(key=f["key"]).exists():
        return UNCHANGED
    metric_create(key=f["key"], name=f["name"], aggregation=f["aggregation"],
                  unit=f.get("unit", ""))
    return CREATED


def _contacts(value) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(";")
    return [item.strip() for item in items if str(item).strip()]


def _organization(f: dict, now: datetime) -> str:
    status = UNCHANGED
    organization = Organization.objects.filter(name=f["name"]).first()
    if organization is None:
        organization = organization_create(
            name=f["name"], display_name=f["display_name"], actor=None, now=now,
            billing_account_name=f.get("billing_account", "Main"),
            payment_kind=f.get("payment_kind", PaymentKind.CHARGEBACK),
            created_at=_instant(f, "created_at"))
        status = CREATED
    account = organization.billing_accounts.filter(
        name=f.get("billing_account", "Main")).first()
    for email in _contacts(f.get("contacts")):
        if account is not None and not account.contacts.filter(email=email.lower()).exists():
            billing_contact_add(billing_account=account, email=email, now=now)
            status = CREATED
    return status


def _project(f: dict, now: datetime) -> str:
    if Project.objects.filter(name=f["name"]).exists():
        return UNCHANGED
    organization = _named(Organization, "organization", name=f["organization"])
    account = None
    if "billing_account" in f:
        account = _named(BillingAccount, "billing account", name=f["billing_account"],
                         organization=organization)
    project_create(name=f["name"], organization=organization, actor=None, now=now,
                   billing_account=account, billing_from=_instant(f, "billing_from"))
    return CREATED


def _price(f: dict, now: datetime) -> str:
    try:
        rate = Decimal(str(f["rate"]).strip())
    except InvalidOperation:
        raise Refused(ERR_RATE) from None
    effective = _instant(f, "effective_from")
    key = {"metric__key": f["resource_type"], "variant": f.get("variant", ""),
           "region": f.get("region", ""), "service_class": f.get("service_class", "")}
    if effective is not None and Price.objects.filter(
            **key, valid_from=effective, rate=rate, time_unit=f["unit"],
            superseded_at__isnull=True).exists():
        return UNCHANGED
    price_set(metric_key=f["resource_type"], variant=key["variant"], region=key["region"],
              service_class=key["service_class"], rate=rate, time_unit=f["unit"],
              effective_from=effective, now=now, actor=None, source=PriceChangeSource.COMMAND)
    return CREATED


_SCOPES = (("organization", Organization, "name"), ("project", Project, "name"),
           ("resource", Resource, "resource_id"))


def _credit(f: dict, now: datetime) -> str:
    start, end = _instant(f, "window_start"), _instant(f, "window_end")
    targets = {field: _named(model, field, **{lookup: f[field]})
               for field, model, lookup in _SCOPES if field in f}
    region, metric_key = f.get("region", ""), f.get("resource_type", "")
    if Credit.objects.filter(name=f["name"], window_start=start, window_end=end,
                             region=region, metric_key=metric_key, **targets).exists():
        return UNCHANGED
    credit_create(name=f["name"], description=f["description"], window_start=start,
                  window_end=end, region=region, metric_key=metric_key, now=now, **targets)
    return CREATED


_APPLY = {"region": _region, "resource_type": _resource_type, "variant": _variant,
          "metric": _metric, "organization": _organization, "project": _project,
          "price": _price, "credit": _credit}


# --- events, in batches through ingestion ----------------------------------------------------

_INGEST = {"event": lifecycle_events_ingest, "usage": usage_events_ingest}
_STATUS = {"accepted": CREATED, "duplicate": UNCHANGED, "refused": REFUSED}


def _ingest(kind: str, records: list[Record], *, now: datetime,
            advance: Callable[[int], None]) -> list[Outcome]:
    """Events in time order (an unreadable instant last: ingestion words its refusal),
    in batches of the API's size; each event's outcome is ingestion's."""
    def when(record: Record) -> tuple:
        at = instant_parse(record.fields.get("occurred_at"))
        return (1, record.line) if isinstance(at, str) else (0, at, record.line)

    ordered = sorted(records, key=when)
    outcomes = []
    for start in range(0, len(ordered), MAX_BATCH):
        batch = ordered[start:start + MAX_BATCH]
        result = _INGEST[kind](items=[dict(r.fields) for r in batch], now=now)
        for record, item in zip(batch, result.items, strict=True):
            outcomes.append(Outcome(record.line, kind, _STATUS[item["status"]],
                                    item.get("reason", "")))
        advance(len(batch))
    return outcomes
