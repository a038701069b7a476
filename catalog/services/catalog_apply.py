"""Declarative setup: apply a whole catalog file, idempotently, in one transaction.

A catalog file (YAML or JSON) has the sections of `catalog_export.SECTIONS`, each a
list of objects as `GET /api/v1/catalog` shows them. Applying it creates what is
missing and changes what differs, through the same services as the API, in order
(regions, services, features, resource types, dependencies, metrics, prices, usage
prices, offers), so a later section may name an earlier one. Applying the same file
again changes nothing: rows are found by key, prices are set only when the price in
force differs, an offer gets a new version only when its content changed (and only if
an account accepted the current one; else it is edited in place).

Nothing is ever deleted: an object the file leaves out is kept (whatever invoices
reference stays). Every item's errors are collected, prefixed by where they are
(`offers[1].charges[0].tiers`), and raised together: a bad file writes nothing.

`catalog_plan` runs the same apply in a transaction it rolls back and returns the
diff it would make; `catalog_apply` returns the diff it made.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.context import records_actor
from catalog.models import Offer, PriceChangeSource
from catalog.services.catalog_export import SECTIONS, catalog_diff, catalog_export, item_key
from catalog.services.directory import (
    dependency_set,
    feature_ensure,
    metric_ensure,
    region_ensure,
    resource_type_ensure,
    service_ensure,
)
from catalog.services.list_prices import price_set, usage_price_set
from catalog.services.offer_settings import offer_settings_update
from catalog.services.offers import OfferContent, offer_create, offer_revise
from catalog.services.resource_types import ResourceTypeNotFound
from core.money import to_decimal

UNKNOWN_SECTION = "unknown section: use {sections}"
NOT_A_LIST = "must be a list of objects"
NOT_AN_OBJECT = "must be an object"
FIELD_REQUIRED = "this field is required"
FILE_NOT_AN_OBJECT = "a catalog file is an object whose keys are its sections"


@dataclass(frozen=True)
class CatalogApplied:
    changes: list[str]  # catalog_diff lines; empty: nothing changed
    applied: bool  # False: a plan (rolled back)


def _str(item: dict, name: str, default: str = "") -> str:
    value = item.get(name, default)
    return "" if value is None else str(value)


def _required(item: dict, *names: str) -> None:
    missing = {n: [FIELD_REQUIRED] for n in names if item.get(n) in (None, "")}
    if missing:
        raise ValidationError(missing)


def _region(item, **_):
    _required(item, "key", "name")
    region_ensure(key=_str(item, "key"), name=_str(item, "name"))


def _service(item, **_):
    _required(item, "key", "name")
    service_ensure(key=_str(item, "key"), name=_str(item, "name"),
                   description=_str(item, "description"))


def _feature(item, **_):
    _required(item, "key", "service", "name", "kind")
    feature_ensure(key=_str(item, "key"), service_key=_str(item, "service"),
                   name=_str(item, "name"), kind=_str(item, "kind"),
                   scope=_str(item, "scope", "billing_account"),
                   default_limit=item.get("default_limit"), unit=_str(item, "unit"))


def _resource_type(item, **_):
    _required(item, "key", "name")
    variants = [(_str(v, "key"), _str(v, "description")) for v in item.get("variants") or []
                if isinstance(v, dict)]
    resource_type_ensure(key=_str(item, "key"), name=_str(item, "name"),
                         unit=_str(item, "unit"), description=_str(item, "description"),
                         service_key=item.get("service") or None, variants=variants)


def _dependency(item, **_):
    _required(item, "resource_type", "depends_on")
    dependency_set(resource_type=_str(item, "resource_type"),
                   depends_on=_str(item, "depends_on"),
                   credit_cascades=bool(item.get("credit_cascades", True)))


def _metric(item, **_):
    _required(item, "key", "name", "aggregation")
    metric_ensure(key=_str(item, "key"), name=_str(item, "name"),
                  aggregation=_str(item, "aggregation"),
                  service_key=item.get("service") or None, unit=_str(item, "unit"),
                  unique_attribute=_str(item, "unique_attribute"),
                  description=_str(item, "description"))


def _decimal(value, field: str) -> Decimal:
    try:
        return to_decimal(value)
    except ValueError:
        raise ValidationError({field: ["must be a decimal number"]}) from None


def _instant(value, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError({field: ["must be an ISO-8601 instant with offset"]}) from None


def _price_unchanged(item: dict, export: dict) -> bool:
    """The file's price is the one the catalog holds for its key and instant (in force
    now when it names no instant): setting it again would rewrite scheduled rows."""
    wanted = item_key("prices", {**item, "effective_from": _iso(item.get("effective_from"))})
    for held in export["prices"]:
        if item_key("prices", held) == wanted:
            return (_decimal(item["rate"], "rate") == to_decimal(held["rate"])
                    and _str(item, "unit") == held["unit"])
    return False


def _iso(value) -> str | None:
    instant = _instant(value, "effective_from")
    return instant.astimezone(UTC).isoformat() if instant is not None else None


def _price(item, *, now, actor, source, export):
    _required(item, "resource_type", "rate", "unit")
    if _price_unchanged(item, export):
        return
    price_set(metric_key=_str(item, "resource_type"), variant=_str(item, "variant"),
              region=_str(item, "region"), service_class=_str(item, "service_class"),
              rate=_decimal(item["rate"], "rate"), time_unit=_str(item, "unit"),
              effective_from=_instant(item.get("effective_from"), "effective_from"),
              now=now, actor=actor, source=source)


def _usage_price(item, *, now, actor, export, **_):
    _required(item, "metric", "model", "name")
    current = {p["metric"]: p for p in export["usage_prices"]}.get(item["metric"])
    wanted = {k: v for k, v in item.items() if k != "effective_from"}
    if current is not None and _normal(current) == _normal(wanted):
        return
    charge = {k: v for k, v in wanted.items() if k != "metric"}
    usage_price_set(metric_key=_str(item, "metric"), charge=charge,
                    effective_from=_instant(item.get("effective_from"), "effective_from"),
                    now=now, actor=actor)


def _normal(charge: dict) -> dict:
    """A charge with its numbers as plain decimal strings, to compare file and store."""
    def plain(value):
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k != "flat_fee" or v not in
                    (0, "0", None)}
        if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
            try:
                return format(to_decimal(value).normalize(), "f")
            except ValueError:
                return value
        return value
    return {k: plain(v) for k, v in charge.items() if v not in (None, "", [])}


def _offer(item, *, now, actor, **_):
    _required(item, "key", "name", "services")
    content = OfferContent(services=list(item.get("services") or []),
                           charges=list(item.get("charges") or []),
                           features=list(item.get("features") or []),
                           duration_prices=list(item.get("duration_prices") or []))
    offer = Offer.objects.filter(key=_str(item, "key")).first()
    public = bool(item.get("public", True))
    if offer is None:
        offer_create(key=_str(item, "key"), name=_str(item, "name"), content=content, now=now,
                     description=_str(item, "description"), public=public, actor=actor)
        return
    offer_settings_update(offer=offer, name=_str(item, "name"),
                          description=_str(item, "description"), public=public, actor=actor)
    offer_revise(offer=offer, content=content, now=now, actor=actor,
                 notes=_str(item, "notes"))


_APPLY = {"regions": _region, "services": _service, "features": _feature,
          "resource_types": _resource_type, "dependencies": _dependency, "metrics": _metric,
          "prices": _price, "usage_prices": _usage_price, "offers": _offer}


def _file_errors(document) -> dict[str, list[str]]:
    if not isinstance(document, dict):
        return {"non_field_errors": [FILE_NOT_AN_OBJECT]}
    errors: dict[str, list[str]] = {}
    for section, items in document.items():
        if section not in SECTIONS:
            errors[str(section)] = [UNKNOWN_SECTION.format(sections=", ".join(SECTIONS))]
        elif not isinstance(items, list | type(None)):
            errors[section] = [NOT_A_LIST]
    return errors


def _apply_item(section: str, index: int, item, errors: dict, **context) -> None:
    where = f"{section}[{index}]"
    if not isinstance(item, dict):
        errors[where] = [NOT_AN_OBJECT]
        return
    try:
        # A savepoint per item: one item's refusal leaves the others' writes usable.
        with transaction.atomic():
            _APPLY[section](item, **context)
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for name, reasons in error.message_dict.items():
                errors[f"{where}.{name}"] = reasons
        else:
            errors[where] = error.messages
    except ResourceTypeNotFound as missing:
        errors[f"{where}.resource_type"] = [str(missing)]


def _apply(document: dict, *, now: datetime, actor, source) -> list[str]:
    """Apply every item (inside the caller's transaction); the diff, or ValidationError
    with every item's reasons."""
    errors = _file_errors(document)
    if errors:
        raise ValidationError(errors)
    before = catalog_export(now=now)
    for section in SECTIONS:
        for index, item in enumerate(document.get(section) or []):
            _apply_item(section, index, item, errors, now=now, actor=actor, source=source,
                        export=before)
    if errors:
        raise ValidationError(errors)
    return catalog_diff(before, catalog_export(now=now))


@records_actor()
def catalog_apply(*, document: dict, now: datetime, actor=None,
                  source: PriceChangeSource = PriceChangeSource.API,
                  plan: bool = False) -> CatalogApplied:
    """Apply `document` (a parsed catalog file); with `plan`, only say what would change.
    All or nothing: a ValidationError (every item's reasons) writes nothing."""
    with transaction.atomic():
        changes = _apply(document, now=now, actor=actor, source=source)
        if plan:
            transaction.set_rollback(True)
    return CatalogApplied(changes=changes, applied=not plan)
