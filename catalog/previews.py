"""The impact of a price change or a new offer version on the open cycle, asked before
it is saved (the admin's preview, `?dry_run=1` on the API).

Rating sits above the catalog (invoicing), so the catalog only states the question and
the shape of the answer; invoicing answers it (`invoicing.price_preview`, registered in
`InvoicingConfig.ready`) with the real rating engine.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

NO_PREVIEW = "no impact preview is available (invoicing is not installed)"


@dataclass(frozen=True)
class ImpactRow:
    organization: str
    billing_account: str
    currency: str
    before: Decimal
    after: Decimal

    @property
    def difference(self) -> Decimal:
        return self.after - self.before


@dataclass(frozen=True)
class Impact:
    cycle: str  # "2026-11", or "" when no cycle is open
    rated_until: datetime
    rows: list[ImpactRow]
    note: str = ""

    @property
    def changed(self) -> list[ImpactRow]:
        return [row for row in self.rows if row.difference]

    def as_json(self) -> dict:
        return {
            "cycle": self.cycle or None, "rated_until": self.rated_until,
            "note": self.note or None,
            "accounts": [{"organization": r.organization, "billing_account": r.billing_account,
                          "currency": r.currency, "before": str(r.before),
                          "after": str(r.after), "difference": str(r.difference)}
                         for r in self.rows],
        }


@dataclass
class _Answerers:
    price_change: Callable[..., Impact] | None = None
    offer_version: Callable[..., Impact] | None = None


_answerers = _Answerers()


def previews_register(*, price_change: Callable[..., Impact],
                      offer_version: Callable[..., Impact]) -> None:
    _answerers.price_change = price_change
    _answerers.offer_version = offer_version


def previews_available() -> bool:
    return _answerers.price_change is not None


def price_change_impact(*, apply: Callable[[], object], now: datetime) -> Impact:
    """Each billing account's open-cycle total before and after `apply()` (a `price_set`
    call), nothing kept. The change's refusal (ValidationError) propagates."""
    if _answerers.price_change is None:
        raise RuntimeError(NO_PREVIEW)
    return _answerers.price_change(apply=apply, now=now)


def offer_version_impact(*, offer, content, actor, now: datetime) -> Impact:
    """What the accounts on `offer` would pay this cycle on a version with `content`."""
    if _answerers.offer_version is None:
        raise RuntimeError(NO_PREVIEW)
    return _answerers.offer_version(offer=offer, content=content, actor=actor, now=now)
