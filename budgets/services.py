"""Writes of budgets: budgets and their audit trail, alerts after a rating run, signed
webhooks, and notification preferences.

Every function is keyword-only and owns its transaction. Alerts are idempotent: a
`BudgetAlert` row (unique per budget, cycle, threshold and recipient) is written in
the same transaction as its outbox email (`invoicing.outbox.outbox_enqueue`, keyed
`budget:<id>:<cycle>:<threshold>:<recipient>`), and a webhook delivery (unique per
budget, cycle and threshold) in the same transaction too; both go out after commit.
A re-run finds the rows and sends nothing new.
"""

import http.client
import ipaddress
import json
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string

from accounts.access import Access, access_for
from accounts.models import Organization, Project
from billing.fields import MONEY_DIGITS, MONEY_PLACES
from billing.leases import due_ids
from billing.money import minor_unit, money_quantum
from billing.retries import backoff_seconds
from budgets.domain import (
    SIGNATURE_HEADER,
    THRESHOLD_MAX,
    THRESHOLD_MIN,
    normalize_thresholds,
    percent_used,
    thresholds_crossed,
    webhook_signature,
)
from budgets.models import (
    Budget,
    BudgetAlert,
    BudgetChange,
    BudgetChangeKind,
    BudgetRecipient,
    BudgetScope,
    BudgetWebhookDelivery,
    NotificationPreference,
    WebhookStatus,
)
from budgets.selectors import budget_email_opt_outs, scope_spend
from invoicing.models import BillingCycle
from tenancy.selectors import provider_current

logger = logging.getLogger(__name__)

# Field-level reasons; the API and the tests import them.
NAME_REQUIRED = "give the budget a name"
NAME_TOO_LONG = "at most 200 characters"
NAME_TAKEN = "this {scope} already has a budget named {name!r}"
AMOUNT_NOT_DECIMAL = "must be a decimal number, as a string (\"1000.00\"); floats are refused"
AMOUNT_NOT_POSITIVE = "a budget's amount must be more than 0"
AMOUNT_TOO_PRECISE = "{currency} amounts have at most {places} decimal places"
AMOUNT_TOO_LARGE = f"at most {MONEY_DIGITS - MONEY_PLACES} digits before the decimal point"
THRESHOLDS_REQUIRED = "give at least one threshold, in percent (e.g. 50, 80, 100)"
THRESHOLD_INVALID = (
    f"thresholds are whole percentages from {THRESHOLD_MIN} to {THRESHOLD_MAX}; got {{value!r}}"
)
RECIPIENT_USER_NOT_FOUND = "no user {username!r} in this provider"
RECIPIENT_USER_NO_EMAIL = "user {username!r} has no email address to send alerts to"
RECIPIENT_USER_CANNOT_SEE = "user {username!r} may not see the spend of {scope} {name!r}"
RECIPIENT_EMAIL_INVALID = "{email!r} is not a valid email address"
NOBODY_NOTIFIED = "a budget must notify someone: give recipients or a webhook URL"
WEBHOOK_URL_INVALID = "give an http:// or https:// URL"
WEBHOOK_SECRET_REQUIRED = "a webhook needs a secret of at least {n} characters to sign requests"
WEBHOOK_PRIVATE_HOST = "refused: {host} resolves to a private or local address ({address})"
SCOPE_REQUIRED = "a budget belongs to exactly one organization or one project"

WEBHOOK_SECRET_MIN = 16
WEBHOOK_DELIVER_TASK = "budgets.tasks.webhook_deliver"
WEBHOOK_EVENT = "budget.threshold_crossed"
WEBHOOK_USER_AGENT = "Tally-Webhooks/1"


# --- budgets -------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetSpec:
    """A budget's fields, checked and normalized (what `budget_check` returns)."""

    name: str
    amount: Decimal
    thresholds: list[int]
    users: list  # User instances, each once
    emails: list[str]  # lowercased, each once, none a listed user's address
    webhook_url: str
    webhook_secret: str


def _scope_of(organization: Organization | None, project: Project | None) -> tuple[str, str]:
    if (organization is None) == (project is None):
        raise ValidationError({"scope": [SCOPE_REQUIRED]})
    if project is not None:
        return BudgetScope.PROJECT, project.name
    return BudgetScope.ORGANIZATION, organization.name


def _sees_scope(access: Access, organization: Organization | None,
                project: Project | None) -> bool:
    if project is not None:
        return access.can_view_project(project)
    return access.can_view_org(organization.pk)


def _check_amount(amount, currency: str) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str):
        raise ValidationError({"amount": [AMOUNT_NOT_DECIMAL]})
    try:
        amount = Decimal(amount.strip() if isinstance(amount, str) else amount)
    except ArithmeticError:
        raise ValidationError({"amount": [AMOUNT_NOT_DECIMAL]}) from None
    if not amount.is_finite():
        raise ValidationError({"amount": [AMOUNT_NOT_DECIMAL]})
    if amount <= 0:
        raise ValidationError({"amount": [AMOUNT_NOT_POSITIVE]})
    places = minor_unit(currency)
    if amount != amount.quantize(money_quantum(currency)):
        raise ValidationError({"amount": [AMOUNT_TOO_PRECISE.format(currency=currency,
                                                                    places=places)]})
    if amount.adjusted() >= MONEY_DIGITS - MONEY_PLACES:
        raise ValidationError({"amount": [AMOUNT_TOO_LARGE]})
    return amount.quantize(money_quantum(currency))


def _check_thresholds(thresholds) -> list[int]:
    values = list(thresholds or [])
    if not values:
        raise ValidationError({"thresholds": [THRESHOLDS_REQUIRED]})
    for value in values:
        try:
            normalize_thresholds([value])
        except ValueError:
            raise ValidationError(
                {"thresholds": [THRESHOLD_INVALID.format(value=value)]}
            ) from None
    return normalize_thresholds(values)


def _check_webhook(url: str, secret: str | None, current_secret: str) -> tuple[str, str]:
    url = (url or "").strip()
    if not url:
        return "", ""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"webhook_url": [WEBHOOK_URL_INVALID]}) from None
    secret = current_secret if secret is None else secret.strip()
    if len(secret) < WEBHOOK_SECRET_MIN:
        raise ValidationError(
            {"webhook_secret": [WEBHOOK_SECRET_REQUIRED.format(n=WEBHOOK_SECRET_MIN)]}
        )
    return url, secret


def budget_check(*, organization: Organization | None = None, project: Project | None = None,
                 name: str, amount, thresholds: Iterable[int],
                 recipient_usernames: Iterable[str] = (), recipient_emails: Iterable[str] = (),
                 webhook_url: str = "", webhook_secret: str | None = None,
                 budget: Budget | None = None) -> BudgetSpec:
    """The checks of `budget_create` / `budget_update`, without writing (admin forms use
    them). Every field's reasons are collected, not just the first. `webhook_secret` None
    keeps the budget's current secret."""
    scope, scope_name = _scope_of(organization, project)
    currency = provider_current().currency
    errors: dict[str, list[str]] = {}

    def collect(check, *args):
        try:
            return check(*args)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                errors.setdefault(field, []).extend(messages)
            return None

    name = (name or "").strip()
    if not name:
        errors["name"] = [NAME_REQUIRED]
    elif len(name) > 200:
        errors["name"] = [NAME_TOO_LONG]
    else:
        taken = Budget.objects.filter(organization=organization, project=project, name=name)
        if budget is not None:
            taken = taken.exclude(pk=budget.pk)
        if taken.exists():
            errors["name"] = [NAME_TAKEN.format(scope=scope, name=name)]
    checked_amount = collect(_check_amount, amount, currency)
    checked_thresholds = collect(_check_thresholds, thresholds)
    webhook = collect(_check_webhook, webhook_url, webhook_secret,
                      budget.webhook_secret if budget is not None else "") or ("", "")

    users, user_errors = [], []
    wanted = []
    for username in recipient_usernames or []:
        username = (username or "").strip()
        if username and username not in wanted:
            wanted.append(username)
    found = {u.username: u for u in get_user_model().objects.filter(username__in=wanted)}
    for username in wanted:
        user = found.get(username)
        if user is None or not user.is_active:
            user_errors.append(RECIPIENT_USER_NOT_FOUND.format(username=username))
        elif not user.email:
            user_errors.append(RECIPIENT_USER_NO_EMAIL.format(username=username))
        elif not _sees_scope(access_for(user), organization, project):
            user_errors.append(RECIPIENT_USER_CANNOT_SEE.format(
                username=username, scope=scope, name=scope_name))
        else:
            users.append(user)
    if user_errors:
        errors["recipient_users"] = user_errors

    user_emails = {u.email.strip().lower() for u in users}
    emails, email_errors = [], []
    for email in recipient_emails or []:
        email = (email or "").strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            email_errors.append(RECIPIENT_EMAIL_INVALID.format(email=email))
            continue
        if email not in emails and email not in user_emails:
            emails.append(email)
    if email_errors:
        errors["recipient_emails"] = email_errors

    if not errors and not users and not emails and not webhook[0]:
        errors["recipient_users"] = [NOBODY_NOTIFIED]
    if errors:
        raise ValidationError(errors)
    return BudgetSpec(
        name=name, amount=checked_amount, thresholds=checked_thresholds, users=users,
        emails=emails, webhook_url=webhook[0], webhook_secret=webhook[1],
    )


def budget_snapshot(budget: Budget) -> dict:
    """What the audit trail keeps of a budget (never its webhook secret)."""
    recipients = list(budget.recipients.select_related("user"))
    return {
        "name": budget.name,
        "scope": budget.scope,
        "organization": budget.organization.name if budget.organization_id else None,
        "project": budget.project.name if budget.project_id else None,
        "amount": str(budget.amount),
        "thresholds": list(budget.thresholds),
        "recipient_users": sorted(r.user.username for r in recipients if r.user_id),
        "recipient_emails": sorted(r.email for r in recipients if r.email),
        "webhook_url": budget.webhook_url,
    }


def _write_recipients(budget: Budget, spec: BudgetSpec) -> None:
    BudgetRecipient.objects.filter(budget=budget).delete()
    BudgetRecipient.objects.bulk_create(
        [BudgetRecipient(budget=budget, user=user) for user in spec.users]
        + [BudgetRecipient(budget=budget, email=email) for email in spec.emails]
    )


def _user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


def _audit(budget: Budget, kind: str, actor, now: datetime, snapshot: dict) -> None:
    BudgetChange.objects.create(
        budget=budget if kind != BudgetChangeKind.DELETED else None, budget_ref=budget.pk,
        kind=kind, actor=_user_or_none(actor), at=now,
        snapshot=snapshot,
    )


def budget_create(*, organization: Organization | None = None, project: Project | None = None,
                  name: str, amount, thresholds: Iterable[int],
                  recipient_usernames: Iterable[str] = (), recipient_emails: Iterable[str] = (),
                  webhook_url: str = "", webhook_secret: str | None = None,
                  actor, now: datetime) -> Budget:
    """Set a monthly budget on a project or an organization, with its thresholds and who
    it notifies, and write the audit row."""
    spec = budget_check(
        organization=organization, project=project, name=name, amount=amount,
        thresholds=thresholds, recipient_usernames=recipient_usernames,
        recipient_emails=recipient_emails, webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    )
    scope, _ = _scope_of(organization, project)
    with transaction.atomic():
        try:
            with transaction.atomic():
                budget = Budget.objects.create(
                    name=spec.name, scope=scope, organization=organization, project=project,
                    amount=spec.amount, thresholds=spec.thresholds,
                    webhook_url=spec.webhook_url, webhook_secret=spec.webhook_secret,
                    created_by=_user_or_none(actor),
                    created_at=now, updated_at=now,
                )
        except IntegrityError:  # a concurrent create took the name
            raise ValidationError({"name": [NAME_TAKEN.format(scope=scope, name=spec.name)]}
                                  ) from None
        _write_recipients(budget, spec)
        _audit(budget, BudgetChangeKind.CREATED, actor, now, budget_snapshot(budget))
    return budget


def budget_update(*, budget: Budget, name: str, amount, thresholds: Iterable[int],
                  recipient_usernames: Iterable[str] = (), recipient_emails: Iterable[str] = (),
                  webhook_url: str = "", webhook_secret: str | None = None,
                  actor, now: datetime) -> Budget:
    """Replace a budget's fields and recipients (its scope never changes). Alerts already
    sent this cycle stay sent; a threshold newly crossed after the change alerts at the
    next rating run. `webhook_secret` None keeps the current secret."""
    organization = budget.organization if budget.scope == BudgetScope.ORGANIZATION else None
    project = budget.project if budget.scope == BudgetScope.PROJECT else None
    spec = budget_check(
        organization=organization, project=project, name=name, amount=amount,
        thresholds=thresholds, recipient_usernames=recipient_usernames,
        recipient_emails=recipient_emails, webhook_url=webhook_url,
        webhook_secret=webhook_secret, budget=budget,
    )
    with transaction.atomic():
        locked = Budget.objects.select_for_update().filter(pk=budget.pk).first()
        if locked is None:
            raise ValidationError({"budget": ["this budget was deleted"]})
        try:
            with transaction.atomic():
                Budget.objects.filter(pk=budget.pk).update(
                    name=spec.name, amount=spec.amount, thresholds=spec.thresholds,
                    webhook_url=spec.webhook_url, webhook_secret=spec.webhook_secret,
                    updated_at=now,
                )
        except IntegrityError:
            raise ValidationError({"name": [NAME_TAKEN.format(scope=budget.scope,
                                                              name=spec.name)]}) from None
        _write_recipients(budget, spec)
        budget.refresh_from_db()
        _audit(budget, BudgetChangeKind.UPDATED, actor, now, budget_snapshot(budget))
    return budget


def budget_delete(*, budget: Budget, actor, now: datetime) -> None:
    """Delete a budget with its alerts and webhook deliveries; the audit row stays.
    Emails already in the outbox are not recalled."""
    with transaction.atomic():
        locked = Budget.objects.select_for_update().filter(pk=budget.pk).first()
        if locked is None:
            return
        _audit(locked, BudgetChangeKind.DELETED, actor, now, budget_snapshot(locked))
        locked.delete()


# --- alerts after a rating run ---------------------------------------------------------


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


def alert_key(*, budget_id: int, cycle_label: str, threshold: int, recipient: str) -> str:
    """The outbox key of one alert email: at most one email per key, ever."""
    return f"budget:{budget_id}:{cycle_label}:{threshold}:{recipient}"


class _Audience:
    """Who a budget's alert reaches now: its address recipients, and its users who still
    see the scope, have an address and did not turn budget email off. Access and
    preferences are loaded once per evaluation."""

    def __init__(self, budgets: list[Budget]):
        user_ids = {r.user_id for b in budgets for r in b.recipients.all() if r.user_id}
        self.org_off, self.project_off, self.project_on = budget_email_opt_outs(
            user_ids=user_ids
        )
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
            if not _sees_scope(self._access_of(user), organization, project):
                continue  # lost the role since: no spend by email either
            out.setdefault(email, _Recipient(email, user.pk))
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
    sent_alerts = set(BudgetAlert.objects.filter(cycle=cycle).values_list(
        "budget_id", "threshold", "recipient"))
    sent_webhooks = set(BudgetWebhookDelivery.objects.filter(cycle=cycle).values_list(
        "budget_id", "threshold"))
    currency = provider_current().currency
    alerts = webhooks = failed = 0
    for budget in budgets:
        budget_spend = spend.of(budget)
        crossed = thresholds_crossed(spend=budget_spend, amount=budget.amount,
                                     thresholds=budget.thresholds)
        if not crossed:
            continue
        recipients = audience.of(budget)
        missing_alerts = [
            (threshold, recipient) for threshold in crossed for recipient in recipients
            if (budget.pk, threshold, recipient.email) not in sent_alerts
        ]
        missing_webhooks = [
            threshold for threshold in crossed
            if budget.webhook_url and (budget.pk, threshold) not in sent_webhooks
        ]
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


def _notify(*, budget: Budget, cycle: BillingCycle, spend: Decimal, currency: str,
            now: datetime, alerts: list[tuple[int, _Recipient]],
            webhooks: list[int]) -> tuple[int, int]:
    from invoicing.outbox import outbox_enqueue

    schema_name = connection.schema_name
    created_alerts = created_webhooks = 0
    with transaction.atomic():
        locked = Budget.objects.select_for_update().filter(pk=budget.pk).first()
        if locked is None:
            return 0, 0  # deleted meanwhile
        # What a concurrent run sent while we waited for the lock.
        sent = set(BudgetAlert.objects.filter(budget=budget, cycle=cycle).values_list(
            "threshold", "recipient"))
        sent_webhooks = set(BudgetWebhookDelivery.objects.filter(
            budget=budget, cycle=cycle).values_list("threshold", flat=True))
        for threshold, recipient in alerts:
            if (threshold, recipient.email) in sent:
                continue
            key = alert_key(budget_id=budget.pk, cycle_label=cycle.label, threshold=threshold,
                            recipient=recipient.email)
            BudgetAlert.objects.create(
                budget=budget, cycle=cycle, threshold=threshold, recipient=recipient.email,
                user_id=recipient.user_id, spend=spend, budget_amount=budget.amount,
                currency=currency, outbox_key=key, created_at=now,
            )
            subject, text, html = _alert_email(budget=budget, cycle=cycle, threshold=threshold,
                                               spend=spend, currency=currency)
            outbox_enqueue(key=key, to=recipient.email, subject=subject, text=text, html=html)
            created_alerts += 1
        for threshold in webhooks:
            if threshold in sent_webhooks:
                continue
            delivery = BudgetWebhookDelivery.objects.create(
                budget=budget, cycle=cycle, threshold=threshold, url=budget.webhook_url,
                body=_webhook_body(budget=budget, cycle=cycle, threshold=threshold,
                                   spend=spend, currency=currency, now=now),
                created_at=now,
            )
            transaction.on_commit(
                lambda pk=delivery.pk: _queue_webhook(pk, schema_name)
            )
            created_webhooks += 1
    return created_alerts, created_webhooks


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
        "id": f"budget:{budget.pk}:{cycle.label}:{threshold}",
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


# --- webhook delivery ------------------------------------------------------------------


class WebhookRetryLater(Exception):
    """A transient failure: the task should run again after `delay` seconds."""

    def __init__(self, message: str, delay: float):
        super().__init__(message)
        self.delay = delay


@dataclass(frozen=True)
class WebhookPolicy:
    max_attempts: int
    backoff_seconds: int
    backoff_max_seconds: int
    lease_seconds: int
    timeout_seconds: int
    allow_private_hosts: bool


def webhook_policy() -> WebhookPolicy:
    """Settings with defaults (TALLY_WEBHOOK_*): 6 attempts, 30 s doubling up to an hour,
    a 5-minute lease, a 10-second timeout, and no private or local receivers."""
    return WebhookPolicy(
        max_attempts=int(getattr(settings, "TALLY_WEBHOOK_MAX_ATTEMPTS", 6)),
        backoff_seconds=int(getattr(settings, "TALLY_WEBHOOK_BACKOFF_SECONDS", 30)),
        backoff_max_seconds=int(getattr(settings, "TALLY_WEBHOOK_BACKOFF_MAX_SECONDS", 3600)),
        lease_seconds=int(getattr(settings, "TALLY_WEBHOOK_LEASE_SECONDS", 300)),
        timeout_seconds=int(getattr(settings, "TALLY_WEBHOOK_TIMEOUT_SECONDS", 10)),
        allow_private_hosts=bool(getattr(settings, "TALLY_WEBHOOK_ALLOW_PRIVATE_HOSTS", False)),
    )


def _queue_webhook(delivery_id: int, schema_name: str, countdown: float | None = None) -> None:
    # The schema travels in the headers explicitly: an on_commit callback may run
    # after the caller switched schemas.
    current_app.send_task(
        WEBHOOK_DELIVER_TASK, args=(delivery_id,), headers={"_schema_name": schema_name},
        countdown=countdown,
    )


class _Permanent(Exception):
    """A failure retrying cannot fix (refused address, 4xx answer)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _Transient(Exception):
    """A failure worth retrying (network, timeout, 5xx, 429)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _check_host(host: str, port: int, policy: WebhookPolicy) -> None:
    """Refuse receivers on private, loopback or link-local addresses: a budget's owner is
    a consumer, and must not make Tally's workers call into the provider's network.
    (A DNS answer that changes between this check and the connection is not covered.)"""
    if policy.allow_private_hosts:
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise _Transient(f"cannot resolve {host}: {error}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise _Permanent(WEBHOOK_PRIVATE_HOST.format(host=host, address=address))


def _post(url: str, body: bytes, headers: dict[str, str], policy: WebhookPolicy) -> int:
    """POST once, no redirects followed; the answer's status code (2xx), else raises."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    _check_host(parts.hostname or "", port, policy)
    connection_class = (http.client.HTTPSConnection if parts.scheme == "https"
                        else http.client.HTTPConnection)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = connection_class(parts.hostname, port, timeout=policy.timeout_seconds)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(65536)
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        raise _Transient(f"{type(error).__name__}: {error}") from None
    finally:
        conn.close()
    if 200 <= status < 300:
        return status
    if status == 429 or status >= 500:
        raise _Transient(f"HTTP {status}", status)
    raise _Permanent(f"HTTP {status}", status)


def budget_webhook_deliver(*, delivery_id: int, now: datetime) -> bool:
    """POST one webhook delivery if it is due and nobody else has it; True if this call
    delivered it. Raises WebhookRetryLater after a transient failure with attempts left.

    The body is signed with the budget's current secret: `X-Tally-Signature:
    sha256=<hex HMAC-SHA256 of the body>`. The row is claimed with a conditional UPDATE
    before the request (no transaction is held open over the network), so two workers
    never both send it; a worker killed mid-request leaves it `sending` until the lease
    ends, after which it may be sent again (receivers dedupe on `X-Tally-Delivery`).
    """
    policy = webhook_policy()
    lease_expired = now - timedelta(seconds=policy.lease_seconds)
    claimable = Q(status=WebhookStatus.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    ) | Q(status=WebhookStatus.SENDING, claimed_at__lt=lease_expired)
    claimed = BudgetWebhookDelivery.objects.filter(claimable, pk=delivery_id).update(
        status=WebhookStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    delivery = BudgetWebhookDelivery.objects.select_related("budget").get(pk=delivery_id)
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": WEBHOOK_USER_AGENT,
        "X-Tally-Event": WEBHOOK_EVENT,
        "X-Tally-Delivery": json.loads(delivery.body)["id"],
        SIGNATURE_HEADER: webhook_signature(secret=delivery.budget.webhook_secret, body=body),
    }
    sending = BudgetWebhookDelivery.objects.filter(pk=delivery_id, status=WebhookStatus.SENDING)
    try:
        status = _post(delivery.url, body, headers, policy)
    except _Transient as error:
        text = str(error)[:2000]
        if delivery.attempts < policy.max_attempts:
            delay = backoff_seconds(attempts=delivery.attempts, base=policy.backoff_seconds,
                                    cap=policy.backoff_max_seconds)
            sending.update(status=WebhookStatus.PENDING, last_error=text,
                           last_status_code=error.status,
                           next_attempt_at=now + timedelta(seconds=delay))
            logger.warning("webhook %s: transient failure, retry in %ss: %s",
                           delivery_id, delay, text)
            raise WebhookRetryLater(text, delay) from None
        sending.update(status=WebhookStatus.FAILED, last_error=text,
                       last_status_code=error.status, next_attempt_at=None)
        logger.error("webhook %s failed for good after %d attempts: %s",
                     delivery_id, delivery.attempts, text)
        return False
    except _Permanent as error:
        sending.update(status=WebhookStatus.FAILED, last_error=str(error)[:2000],
                       last_status_code=error.status, next_attempt_at=None)
        logger.error("webhook %s failed for good: %s", delivery_id, error)
        return False
    sending.update(status=WebhookStatus.DELIVERED, last_status_code=status, last_error="",
                   delivered_at=now, next_attempt_at=None)
    return True


def budget_webhook_due_ids(*, now: datetime) -> list[int]:
    """Deliveries a sweep should (re)queue (billing/leases.py)."""
    return due_ids(BudgetWebhookDelivery, pending=WebhookStatus.PENDING,
                   sending=WebhookStatus.SENDING, now=now,
                   lease_seconds=webhook_policy().lease_seconds)


def budget_webhook_sweep(*, now: datetime) -> int:
    """Queue delivery of every due webhook (a beat safety net). Returns how many."""
    schema_name = connection.schema_name
    ids = budget_webhook_due_ids(now=now)
    for delivery_id in ids:
        _queue_webhook(delivery_id, schema_name)
    return len(ids)


def budget_webhook_retry(*, delivery_id: int) -> bool:
    """Operator action: put a failed delivery back in the queue (attempts start over)."""
    schema_name = connection.schema_name
    with transaction.atomic():
        updated = BudgetWebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookStatus.FAILED
        ).update(status=WebhookStatus.PENDING, attempts=0, next_attempt_at=None)
        if updated:
            transaction.on_commit(lambda: _queue_webhook(delivery_id, schema_name))
    return bool(updated)


# --- notification preferences --------------------------------------------------------


def notification_preference_set(*, user, organization: Organization | None = None,
                                project: Project | None = None,
                                invoice_email: bool | None = None,
                                budget_email: bool | None = None,
                                now: datetime) -> NotificationPreference:
    """Save how `user` wants to hear about one organization or project. A value left
    None keeps what was saved (or the default, True). Setting the same values twice
    changes nothing but `updated_at`."""
    if (organization is None) == (project is None):
        raise ValidationError({"scope": ["give exactly one of organization and project"]})
    with transaction.atomic():
        row = (NotificationPreference.objects.select_for_update()
               .filter(user=user, organization=organization, project=project).first())
        if row is None:
            try:
                with transaction.atomic():
                    row = NotificationPreference.objects.create(
                        user=user, organization=organization, project=project,
                        invoice_email=True if invoice_email is None else invoice_email,
                        budget_email=True if budget_email is None else budget_email,
                        updated_at=now,
                    )
                return row
            except IntegrityError:  # a concurrent first save
                row = NotificationPreference.objects.select_for_update().get(
                    user=user, organization=organization, project=project)
        if invoice_email is not None:
            row.invoice_email = invoice_email
        if budget_email is not None:
            row.budget_email = budget_email
        row.updated_at = now
        row.save(update_fields=["invoice_email", "budget_email", "updated_at"])
    return row
