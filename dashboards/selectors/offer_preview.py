"""What accepting, switching or ending an offer does to this cycle's invoice, before it
is done: the same pure fee rating the rating run uses (`invoicing.domain.usage.
fixed_fee_lines`), run on the account's entitlements as they are and as they would be.

Accepting at `now` ends, at `now`, every active entitlement of the account sharing a
service with the new version (as `accounts.entitlements.entitlement_accept` does); ending
stops one entitlement at `now`. The preview rates the fees of the whole cycle both
ways, so it shows what is charged now (one-time fees, each once per cycle), what is
prorated (recurring fees up to and from `now`), and the fee lines of the invoice the
cycle closes with.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from accounts.models import BillingAccount, Entitlement
from accounts.selectors import entitlements_for_period
from catalog.models import OfferVersion
from catalog.selectors import charges_of_price_lists
from core.money import round_money
from core.periods import Period
from cycles.models import BillingCycle
from invoicing.domain.usage import ChargeLine, EntitlementTerms, fixed_fee_lines
from invoicing.usage_rating import entitlement_terms

NEW = 0  # the id the preview gives the entitlement that does not exist yet


@dataclass(frozen=True)
class PreviewLine:
    kind: str
    description: str
    period: Period
    quantity: Decimal
    rate: Decimal
    amount: Decimal  # rounded, as the invoice line will be


@dataclass(frozen=True)
class OfferPreview:
    cycle: BillingCycle
    now: datetime
    charged_now: list[PreviewLine]  # one-time fees the change adds to this cycle
    prorated: list[PreviewLine]  # recurring fees the change adds or shortens
    before: list[PreviewLine]  # this cycle's fee lines as things are
    after: list[PreviewLine]  # and with the change
    ended: list[str]  # the plans the change ends now
    currency: str

    @property
    def before_total(self) -> Decimal:
        return sum((line.amount for line in self.before), Decimal(0))

    @property
    def after_total(self) -> Decimal:
        return sum((line.amount for line in self.after), Decimal(0))

    @property
    def difference(self) -> Decimal:
        return self.after_total - self.before_total


def _lines(lines: list[ChargeLine], currency: str) -> list[PreviewLine]:
    return [PreviewLine(kind=line.kind, description=line.description, period=line.period,
                        quantity=line.quantity, rate=line.rate,
                        amount=round_money(line.amount, currency)) for line in lines]


def _key(line: PreviewLine) -> tuple:
    return (line.kind, line.description, line.period.start, line.period.end, line.amount)


def _preview(*, cycle: BillingCycle, now: datetime, current: list[EntitlementTerms],
             changed: list[EntitlementTerms], ended: list[str], currency: str) -> OfferPreview:
    period = Period(start=cycle.start, end=cycle.end)
    before = _lines(fixed_fee_lines(terms=current, cycle=period, until=cycle.end,
                                    currency=currency), currency)
    after = _lines(fixed_fee_lines(terms=changed, cycle=period, until=cycle.end,
                                   currency=currency), currency)
    kept = {_key(line) for line in before}
    new = [line for line in after if _key(line) not in kept]
    return OfferPreview(
        cycle=cycle, now=now, currency=currency, before=before, after=after, ended=ended,
        charged_now=[line for line in new if line.kind == "one_time"],
        prorated=[line for line in new if line.kind == "recurring"],
    )


def _account_terms(*, account: BillingAccount, cycle: BillingCycle):
    spans = [s for s in entitlements_for_period(period=Period(start=cycle.start, end=cycle.end))
             if s.billing_account_id == account.pk]
    return spans, entitlement_terms(spans)


def offer_accept_preview(*, account: BillingAccount, version: OfferVersion,
                         cycle: BillingCycle, now: datetime, currency: str) -> OfferPreview:
    """The account accepting `version` at `now` (ending the plans it replaces)."""
    spans, terms = _account_terms(account=account, cycle=cycle)
    services = set(version.services.values_list("pk", flat=True))
    ended_ids = {s.entitlement_id for s in spans
                 if s.service_ids & services and s.start < now
                 and (s.end is None or s.end > now)}
    changed = [replace(t, end=now) if t.entitlement_id in ended_ids else t
               for t in terms.values()]
    charges = charges_of_price_lists(price_list_ids={version.price_list_id})
    changed.append(EntitlementTerms(
        entitlement_id=NEW, billing_account_id=account.pk,
        label=f"{version.offer.name} v{version.number}", start=now, end=None,
        charges=tuple(charges[version.price_list_id])))
    return _preview(cycle=cycle, now=now, current=list(terms.values()), changed=changed,
                    ended=[terms[pk].label for pk in sorted(ended_ids)], currency=currency)


def entitlement_end_preview(*, entitlement: Entitlement, cycle: BillingCycle,
                            now: datetime, currency: str) -> OfferPreview:
    """Ending `entitlement` at `now`: its final proration in this cycle."""
    _, terms = _account_terms(account=entitlement.billing_account, cycle=cycle)
    changed = [replace(t, end=now) if t.entitlement_id == entitlement.pk else t
               for t in terms.values()]
    ended = [terms[entitlement.pk].label] if entitlement.pk in terms else []
    return _preview(cycle=cycle, now=now, current=list(terms.values()), changed=changed,
                    ended=ended, currency=currency)
