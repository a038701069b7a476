"""Writes of budgets: budgets and who they notify.

Every function is keyword-only and owns its transaction. The audit log records each
write of a budget or a recipient (triggers, budgets/models.py), naming the actor. The
alerts a budget raises after a rating run are in budgets/alerts.py.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction

from accounts.access import Access, access_for
from accounts.models import Organization, Project
from audit.context import records_actor
from budgets.domain import (
    THRESHOLD_MAX,
    THRESHOLD_MIN,
    normalize_thresholds,
)
from budgets.models import (
    Budget,
    BudgetRecipient,
    BudgetScope,
)
from core.fields import MONEY_DIGITS, MONEY_PLACES
from core.money import minor_unit, money_quantum
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
SCOPE_REQUIRED = "a budget belongs to exactly one organization or one project"

WEBHOOK_SECRET_MIN = 16


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


def sees_scope(access: Access, organization: Organization | None,
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
    name_errors = _name_errors(name, scope=scope, organization=organization, project=project,
                               budget=budget)
    if name_errors:
        errors["name"] = name_errors
    checked_amount = collect(_check_amount, amount, currency)
    checked_thresholds = collect(_check_thresholds, thresholds)
    webhook = collect(_check_webhook, webhook_url, webhook_secret,
                      budget.webhook_secret if budget is not None else "") or ("", "")
    users, user_errors = _recipient_users(recipient_usernames, organization, project,
                                          scope=scope, scope_name=scope_name)
    if user_errors:
        errors["recipient_users"] = user_errors
    emails, email_errors = _recipient_emails(recipient_emails, users)
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


def _name_errors(name: str, *, scope: str, organization: Organization | None,
                 project: Project | None, budget: Budget | None) -> list[str]:
    """What is wrong with a (stripped) name: empty, too long, or another budget's of the
    same scope."""
    if not name:
        return [NAME_REQUIRED]
    if len(name) > 200:
        return [NAME_TOO_LONG]
    taken = Budget.objects.filter(organization=organization, project=project, name=name)
    if budget is not None:
        taken = taken.exclude(pk=budget.pk)
    if taken.exists():
        return [NAME_TAKEN.format(scope=scope, name=name)]
    return []


def _recipient_users(usernames: Iterable[str], organization: Organization | None,
                     project: Project | None, *, scope: str,
                     scope_name: str) -> tuple[list, list[str]]:
    """The users to notify (each once, in the order given) and the reasons the others
    cannot be: unknown or inactive, no address, or no view of the scope's spend."""
    users, errors = [], []
    wanted = []
    for username in usernames or []:
        username = (username or "").strip()
        if username and username not in wanted:
            wanted.append(username)
    found = {u.username: u for u in get_user_model().objects.filter(username__in=wanted)}
    for username in wanted:
        user = found.get(username)
        if user is None or not user.is_active:
            errors.append(RECIPIENT_USER_NOT_FOUND.format(username=username))
        elif not user.email:
            errors.append(RECIPIENT_USER_NO_EMAIL.format(username=username))
        elif not sees_scope(access_for(user), organization, project):
            errors.append(RECIPIENT_USER_CANNOT_SEE.format(
                username=username, scope=scope, name=scope_name))
        else:
            users.append(user)
    return users, errors


def _recipient_emails(addresses: Iterable[str], users: list) -> tuple[list[str], list[str]]:
    """The addresses to notify (lowercased, each once, none a listed user's) and the
    reasons for those refused."""
    user_emails = {u.email.strip().lower() for u in users}
    emails, errors = [], []
    for email in addresses or []:
        email = (email or "").strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            errors.append(RECIPIENT_EMAIL_INVALID.format(email=email))
            continue
        if email not in emails and email not in user_emails:
            emails.append(email)
    return emails, errors


def _write_recipients(budget: Budget, spec: BudgetSpec) -> None:
    """Make the budget's recipients those of `spec`, touching only the ones that change:
    each recipient added or removed is one audit event, the others none."""
    current = list(BudgetRecipient.objects.filter(budget=budget))
    users, emails = {user.pk for user in spec.users}, set(spec.emails)
    stale = [r.pk for r in current
             if (r.user_id not in users if r.user_id else r.email not in emails)]
    BudgetRecipient.objects.filter(pk__in=stale).delete()
    kept_users = {r.user_id for r in current if r.user_id}
    kept_emails = {r.email for r in current if not r.user_id}
    BudgetRecipient.objects.bulk_create(
        [BudgetRecipient(budget=budget, user=user) for user in spec.users
         if user.pk not in kept_users]
        + [BudgetRecipient(budget=budget, email=email) for email in spec.emails
           if email not in kept_emails]
    )


def _user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


@records_actor()
def budget_create(*, organization: Organization | None = None, project: Project | None = None,
                  name: str, amount, thresholds: Iterable[int],
                  recipient_usernames: Iterable[str] = (), recipient_emails: Iterable[str] = (),
                  webhook_url: str = "", webhook_secret: str | None = None,
                  actor, now: datetime) -> Budget:
    """Set a monthly budget on a project or an organization, with its thresholds and who
    it notifies."""
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
    return budget


@records_actor()
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
    return budget


@records_actor()
def budget_delete(*, budget: Budget, actor, now: datetime) -> None:
    """Delete a budget with its alerts and webhook deliveries; its audit events stay.
    Emails already in the outbox are not recalled."""
    with transaction.atomic():
        locked = Budget.objects.select_for_update().filter(pk=budget.pk).first()
        if locked is None:
            return
        locked.delete()

