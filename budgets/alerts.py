"""Budget alerts after a rating run: each threshold crossed is told once per
recipient (an outbox email) and once per budget (a signed webhook), per cycle.

A `BudgetAlert` row (unique per budget, cycle, threshold and recipient) is written
in the same transaction as its outbox email (keyed
`budget:<id>:<cycle>:<threshold>:<recipient>`), and the webhook delivery (keyed
`budget:<id>:<cycle>:<threshold>`) in the same transaction too; both go out after
commit. A re-run finds the rows and sends nothing new. Budgets react to rating and
never drive it: rating publishes `invoicing.signals.cycle_rated`, and this app
queues the check as a task (budgets/apps.py).
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.template.loader import render_to_string

from accounts.access import Access, access_for
from budgets.domain import percent_used, thresholds_crossed
from budgets.models import Budget, BudgetAlert, BudgetScope
from budgets.selectors import scope_spend
from budgets.services import sees_scope
from core.money import money_quantum
from core.timefmt import period_text
from cycles.models import BillingCycle
from notifications.outbox import outbox_enqueue
from notifications.selectors import (
    budget_email_min_thresholds,
    budget_email_opt_outs,
    webhook_keys_existing,
)
from notifications.webhooks import WebhookEvent, webhook_enqueue
from tenancy.selectors import provider_current

logger = logging.getLogger(__name__)

WEBHOOK_EVENT = "budget.threshold_crossed"


@dataclass(frozen=True)
class BudgetEvaluation:
    cycle: str
    budgets: int  # budgets compared with their spend
    alerts: int  # emails newly queued
    webhooks: int  # webhook deliveries newly queued
    failed: int = 0  # budgets whose notifications failed this run (retried next run)


@dataclass(frozen=True)
class _Recipient:
    email: str
    user_id: int | None
    # The user's preference: no email for thresholds below this percent.
    min_threshold: int = 0


def alert_key(*, budget_id: int, cycle_label: str, threshold: int, recipient: str) -> str:
    """The outbox key of one alert email: at most one email per key, ever."""
    return f"budget:{budget_id}:{cycle_label}:{threshold}:{recipient}"


def webhook_key(*, budget_id: int, cycle_label: str, threshold: int) -> str:
    """The key (and delivery id) of one budget webhook: at most one per budget, cycle and
    threshold, ever."""
    return f"budget:{budget_id}:{cycle_label}:{threshold}"


def webhook_subject(budget_id: int) -> str:
    return f"budget:{budget_id}"


class _Audience:
    """Who a budget's alert reaches now: its address recipients, and its users who still
    see the scope, have an address and did not turn budget email off. Access and
    preferences are loaded once per evaluation."""

    def __init__(self, budgets: list[Budget]):
        user_ids = {r.user_id for b in budgets for r in b.recipients.all() if r.user_id}
        self.org_off, self.project_off, self.project_on = budget_email_opt_outs(
            user_ids=user_ids
        )
        self.min_by_org, self.min_by_project = budget_email_min_thresholds(user_ids=user_ids)
        self._access: dict[int, Access] = {}

    def _access_of(self, user) -> Access:
        if user.pk not in self._access:
            self._access[user.pk] = access_for(user)
        return self._access[user.pk]

    def _wants_email(self, user_id: int, budget: Budget) -> bool:
        if budget.scope == BudgetScope.PROJECT:
            key = (user_id, budget.project_id)
            if key in self.project_off:
                return False
            if key in self.project_on:
                return True
            return (user_id, budget.project.organization_id) not in self.org_off
        return (user_id, budget.organization_id) not in self.org_off

    def _min_threshold(self, user_id: int, budget: Budget) -> int:
        if budget.scope == BudgetScope.PROJECT:
            chosen = self.min_by_project.get((user_id, budget.project_id))
            if chosen is not None:
                return chosen
            return self.min_by_org.get((user_id, budget.project.organization_id), 0)
        return self.min_by_org.get((user_id, budget.organization_id), 0)

    def of(self, budget: Budget) -> list[_Recipient]:
        out: dict[str, _Recipient] = {}
        for recipient in budget.recipients.all():
            if recipient.user_id is None:
                out.setdefault(recipient.email, _Recipient(recipient.email, None))
                continue
            user = recipient.user
            email = (user.email or "").strip().lower()
            if not (user.is_active and email and self._wants_email(user.pk, budget)):
                continue
            project = budget.project if budget.scope == BudgetScope.PROJECT else None
            organization = budget.organization if project is None else None
            if not sees_scope(self._access_of(user), organization, project):
                continue  # lost the role since: no spend by email either
            out.setdefault(email, _Recipient(email, user.pk, self._min_threshold(user.pk, budget)))
        return [out[email] for email in sorted(out)]


def budget_alerts_evaluate(*, cycle: BillingCycle, now: datetime) -> BudgetEvaluation:
    """Compare every budget with its scope's spend in `cycle` and notify each threshold
    crossed, once per recipient (email) and once per budget (webhook), per cycle.

    Called after each rating run of the cycle. Spend is read in two queries for all
    budgets; only a budget with something new to send takes its row lock and writes,
    in its own short transaction (alert rows, outbox emails, webhook deliveries,
    together): a failure on one budget leaves the others sent, and the next run sends
    what is missing. Concurrent runs serialize on the budget row and re-read what was
    sent under the lock, so nothing is sent twice.
    """
    budgets = list(
        Budget.objects.select_related("organization", "project__organization")
        .prefetch_related("recipients__user").order_by("pk")
    )
    if not budgets or now <= cycle.start:
        return BudgetEvaluation(cycle=cycle.label, budgets=0, alerts=0, webhooks=0)
    spend = scope_spend(cycle=cycle)
    audience = _Audience(budgets)
    sent = _Sent.load(cycle=cycle, budgets=budgets)
    currency = provider_current().currency
    alerts = webhooks = failed = 0
    for budget in budgets:
        budget_spend = spend.of(budget)
        crossed = thresholds_crossed(spend=budget_spend, amount=budget.amount,
                                     thresholds=budget.thresholds)
        if not crossed:
            continue
        missing_alerts, missing_webhooks = sent.missing(
            budget=budget, cycle=cycle, crossed=crossed, recipients=audience.of(budget))
        if not missing_alerts and not missing_webhooks:
            continue
        try:
            new_alerts, new_webhooks = _notify(
                budget=budget, cycle=cycle, spend=budget_spend, currency=currency, now=now,
                alerts=missing_alerts, webhooks=missing_webhooks,
            )
        except Exception:  # noqa: BLE001 - one budget's failure never stops the rating job
            # Its transaction rolled back whole: the next run sends what is missing.
            logger.exception("budget %s: alerts for %s not sent this run", budget.pk,
                             cycle.label)
            failed += 1
            continue
        alerts += new_alerts
        webhooks += new_webhooks
    result = BudgetEvaluation(cycle=cycle.label, budgets=len(budgets), alerts=alerts,
                              webhooks=webhooks, failed=failed)
    if alerts or webhooks or failed:
        logger.info("budget alerts %s", result)
    return result


@dataclass(frozen=True)
class _Sent:
    """What earlier runs sent in the cycle, read once for every budget (without locks:
    `_notify` checks again under the budget's lock)."""

    alerts: set[tuple[int, int, str]]  # (budget id, threshold, recipient)
    webhooks: set[str]  # webhook keys

    @classmethod
    def load(cls, *, cycle: BillingCycle, budgets: list[Budget]) -> "_Sent":
        alerts = set(BudgetAlert.objects.filter(cycle=cycle).values_list(
            "budget_id", "threshold", "recipient"))
        webhooks = webhook_keys_existing(keys=[
            webhook_key(budget_id=b.pk, cycle_label=cycle.label, threshold=t)
            for b in budgets if b.webhook_url for t in b.thresholds])
        return cls(alerts=alerts, webhooks=webhooks)

    def missing(self, *, budget: Budget, cycle: BillingCycle, crossed: list[int],
                recipients: list[_Recipient]) -> tuple[list[tuple[int, _Recipient]], list[int]]:
        """The (threshold, recipient) emails and the webhook thresholds not sent yet."""
        alerts = [
            (threshold, recipient) for threshold in crossed for recipient in recipients
            if (budget.pk, threshold, recipient.email) not in self.alerts
            and threshold >= recipient.min_threshold
        ]
        webhooks = [
            threshold for threshold in crossed
            if budget.webhook_url and webhook_key(
                budget_id=budget.pk, cycle_label=cycle.label, threshold=threshold,
            ) not in self.webhooks
        ]
        return alerts, webhooks


def _notify(*, budget: Budget, cycle: BillingCycle, spend: Decimal, currency: str,
            now: datetime, alerts: list[tuple[int, _Recipient]],
            webhooks: list[int]) -> tuple[int, int]:
    created_alerts = created_webhooks = 0
    with transaction.atomic():
        locked = Budget.objects.select_for_update().filter(pk=budget.pk).first()
        if locked is None:
            return 0, 0  # deleted meanwhile
        # What a concurrent run sent while we waited for the lock.
        sent = set(BudgetAlert.objects.filter(budget=budget, cycle=cycle).values_list(
            "threshold", "recipient"))
        for threshold, recipient in alerts:
            if (threshold, recipient.email) not in sent:
                _alert(budget=budget, cycle=cycle, threshold=threshold, recipient=recipient,
                       spend=spend, currency=currency, now=now)
                created_alerts += 1
        for threshold in webhooks:
            event = _webhook_event(budget=budget, cycle=cycle, threshold=threshold,
                                   spend=spend, currency=currency, now=now)
            # Idempotent by key: a delivery a concurrent run made is not made again.
            if webhook_enqueue(event=event, url=budget.webhook_url,
                               secret=budget.webhook_secret, now=now) is not None:
                created_webhooks += 1
    return created_alerts, created_webhooks


def _alert(*, budget: Budget, cycle: BillingCycle, threshold: int, recipient: _Recipient,
           spend: Decimal, currency: str, now: datetime) -> None:
    key = alert_key(budget_id=budget.pk, cycle_label=cycle.label, threshold=threshold,
                    recipient=recipient.email)
    BudgetAlert.objects.create(
        budget=budget, cycle=cycle, threshold=threshold, recipient=recipient.email,
        user_id=recipient.user_id, spend=spend, budget_amount=budget.amount,
        currency=currency, outbox_key=key, created_at=now,
    )
    subject, text, html = _alert_email(budget=budget, cycle=cycle, threshold=threshold,
                                       spend=spend, currency=currency)
    outbox_enqueue(key=key, to=recipient.email, subject=subject, text=text, html=html,
                   unsubscribe=budget_unsubscribe(budget))


def budget_unsubscribe(budget: Budget) -> dict:
    """What the email's one-click unsubscribe turns off: budget email for its scope."""
    if budget.scope == BudgetScope.PROJECT:
        return {"kind": "budget", "project": budget.project_id}
    return {"kind": "budget", "organization": budget.organization_id}


def _money(amount: Decimal, currency: str) -> str:
    return str(amount.quantize(money_quantum(currency)))


def _scope_label(budget: Budget) -> tuple[str, str]:
    if budget.scope == BudgetScope.PROJECT:
        return "project", budget.project.name
    return "organization", budget.organization.display_name or budget.organization.name


def _alert_email(*, budget: Budget, cycle: BillingCycle, threshold: int, spend: Decimal,
                 currency: str) -> tuple[str, str, str]:
    scope, scope_name = _scope_label(budget)
    provider = provider_current()
    context = {
        "provider_name": provider.name,
        "budget_name": budget.name,
        "scope": scope,
        "scope_name": scope_name,
        "threshold": threshold,
        "cycle_label": cycle.label,
        "cycle_start": cycle.start,
        "cycle_end": cycle.end,
        "cycle_period": period_text(cycle.start, cycle.end, provider.billing_timezone),
        "currency": currency,
        "amount": _money(budget.amount, currency),
        "spend": _money(spend, currency),
        "percent_used": percent_used(spend=spend, amount=budget.amount),
        "thresholds": ", ".join(f"{t}%" for t in budget.thresholds),
    }
    subject = (f"Budget \"{budget.name}\" for {scope} {scope_name}: {threshold}% reached "
               f"in {cycle.label}")
    text = render_to_string("emails/budget_alert.txt", context)
    html = render_to_string("emails/budget_alert.html", context)
    return subject, text, html


def _webhook_body(*, budget: Budget, cycle: BillingCycle, threshold: int, spend: Decimal,
                  currency: str, now: datetime) -> str:
    payload = {
        "id": webhook_key(budget_id=budget.pk, cycle_label=cycle.label, threshold=threshold),
        "type": WEBHOOK_EVENT,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "provider": provider_current().slug,
        "budget": {
            "id": budget.pk,
            "name": budget.name,
            "scope": budget.scope,
            "organization": (budget.organization.name if budget.organization_id
                             else budget.project.organization.name),
            "project": budget.project.name if budget.project_id else None,
            "amount": _money(budget.amount, currency),
            "thresholds": list(budget.thresholds),
        },
        "cycle": {"label": cycle.label, "start": cycle.start.isoformat().replace("+00:00", "Z"),
                  "end": cycle.end.isoformat().replace("+00:00", "Z")},
        "threshold": threshold,
        "currency": currency,
        "spend": _money(spend, currency),
        "percent_used": str(percent_used(spend=spend, amount=budget.amount)),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def _webhook_event(*, budget: Budget, cycle: BillingCycle, threshold: int, spend: Decimal,
                   currency: str, now: datetime) -> WebhookEvent:
    key = webhook_key(budget_id=budget.pk, cycle_label=cycle.label, threshold=threshold)
    return WebhookEvent(
        key=key, event=WEBHOOK_EVENT, subject=webhook_subject(budget.pk), message_id=key,
        body=_webhook_body(budget=budget, cycle=cycle, threshold=threshold, spend=spend,
                           currency=currency, now=now),
        details={"period": cycle.label, "threshold": threshold},
    )
