"""What a price change would do to the open cycle, before it is saved.

The preview runs the real thing and throws it away: in one transaction it rates the
open cycle (the drafts as they stand now), applies the change through the catalog's own
service (`price_set`, `offer_revise`: the same checks, the same effective dating), rates
again, reads each billing account's draft total before and after, and rolls everything
back: prices, history rows, drafts, audit rows, and the tasks that would have been
queued after commit. No second pricing path exists to disagree with the invoices.

An offer's new version changes nothing for the accounts already on the offer (their
entitlements keep their version); its preview answers what those accounts would pay
this cycle if they were on the new version.
"""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from accounts.models import Entitlement
from catalog.models import Offer, OfferVersion
from catalog.previews import Impact, ImpactRow
from catalog.services.offers import OfferContent, offer_revise
from core.money import round_money
from cycles.models import BillingCycle, CycleStatus
from invoicing.models import Invoice
from invoicing.rating_run import rating_run

NO_OPEN_CYCLE = "No billing cycle is open now: nothing to preview."


class _Discard(Exception):
    """Raised to roll the preview's transaction back once it has read what it needs."""


def _totals(cycle: BillingCycle) -> dict[int, tuple[str, str, str, Decimal]]:
    rows = (Invoice.objects.filter(cycle=cycle)
            .values_list("billing_account_id", "billing_account__organization__name",
                         "billing_account__name", "currency", "total"))
    # Totals are sums of rounded lines; shown to the currency's minor unit ("2403.30").
    return {account: (org, name, currency, round_money(total, currency))
            for account, org, name, currency, total in rows}


def impact_preview(*, apply: Callable[[], object], now: datetime) -> Impact:
    """Each billing account's open-cycle total before and after `apply()` (a write through
    a catalog service), rated by `rating_run` up to `now`. Nothing is kept. A refusal of
    the change (ValidationError and the like) propagates, as saving it would."""
    cycle = (BillingCycle.objects.filter(status=CycleStatus.OPEN, start__lte=now, end__gt=now)
             .first())
    if cycle is None:
        _checked_then_discarded(apply)  # its refusals still show
        return Impact(cycle="", rated_until=now, rows=[], note=NO_OPEN_CYCLE)
    found: dict[str, dict] = {}
    try:
        with transaction.atomic():
            rating_run(cycle=cycle, now=now)
            found["before"] = _totals(cycle)
            apply()
            rating_run(cycle=cycle, now=now)
            found["after"] = _totals(cycle)
            raise _Discard
    except _Discard:
        pass
    return Impact(cycle=cycle.label, rated_until=min(now, cycle.end),
                  rows=_rows(found["before"], found["after"]))


def _checked_then_discarded(apply: Callable[[], object]) -> None:
    try:
        with transaction.atomic():
            apply()
            raise _Discard
    except _Discard:
        pass


def _rows(before: dict, after: dict) -> list[ImpactRow]:
    rows = []
    for account in before.keys() | after.keys():
        org, name, currency, _ = after.get(account) or before[account]
        rows.append(ImpactRow(
            organization=org, billing_account=name, currency=currency,
            before=before[account][3] if account in before else Decimal(0),
            after=after[account][3] if account in after else Decimal(0)))
    return sorted(rows, key=lambda r: (-abs(r.difference), r.organization, r.billing_account))


def offer_version_impact(*, offer: Offer, content: OfferContent, actor,
                         now: datetime) -> Impact:
    """What saving `content` would do (`offer_revise`), and then what the accounts on the
    offer would pay this cycle on that version (once saved for real, their entitlements
    keep their own version)."""
    def apply():
        version = offer_revise(offer=offer, content=content, now=now, actor=actor)
        offer_entitlements_move(offer=offer, to_version=version, now=now)

    return impact_preview(apply=apply, now=now)


def offer_entitlements_move(*, offer: Offer, to_version: OfferVersion, now: datetime) -> int:
    """Within a preview only: put the active entitlements of `offer` on `to_version`, as if
    their accounts had taken the new version from their own start."""
    active = Entitlement.objects.filter(offer_version__offer=offer, start__lte=now).exclude(
        end__lte=now).exclude(offer_version=to_version)
    return active.update(offer_version=to_version)
