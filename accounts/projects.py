"""Projects: creating one, and moving it between its organization's billing accounts
(effective-dated assignments; usage splits at the instant of a move)."""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import (
    BillingAccount,
    Organization,
    Project,
    ProjectAccountAssignment,
    Role,
    RoleGrant,
)
from accounts.organizations import check_name
from accounts.quota_cache import quota_cache_invalidate
from audit.context import records_actor
from core.periods import instant_utc
from cycles.guard import cycle_guard
from cycles.selectors import billing_period_containing, finalized_until
from cycles.services import cycles_ensure_for

PROJECT_NAME_TAKEN = "a project named {name!r} already exists"
NO_BILLING_ACCOUNT = (
    "organization {name!r} has no billing account yet: create a billing account first"
)
ACCOUNT_OTHER_ORG = "billing account {account!r} does not belong to organization {org!r}"
MOVE_SAME_ACCOUNT = "the project already bills to {account!r} from that instant"
MOVE_BEFORE_CURRENT = (
    "{when} is before {since}, when the project's current billing account took effect"
)


def project_check(*, name: str, organization: Organization,
                  billing_account: BillingAccount | None = None) -> tuple[str, BillingAccount]:
    """The checks of `project_create`, without writing: the name and the account it bills to."""
    name = check_name(name)
    if Project.objects.filter(name=name).exists():
        raise ValidationError({"name": [PROJECT_NAME_TAKEN.format(name=name)]})
    if billing_account is not None:
        if billing_account.organization_id != organization.pk:
            raise ValidationError({"billing_account": [ACCOUNT_OTHER_ORG.format(
                account=billing_account.name, org=organization.name)]})
        return name, billing_account
    default = BillingAccount.objects.filter(organization=organization, is_default=True).first()
    if default is None:
        raise ValidationError(
            {"organization": [NO_BILLING_ACCOUNT.format(name=organization.name)]}
        )
    return name, default


@records_actor()
def project_create(*, name: str, organization: Organization, actor, now: datetime,
                   billing_account: BillingAccount | None = None,
                   billing_from: datetime | None = None) -> Project:
    """Create a project billing to the organization's default account (or the given one).

    The first assignment starts at `billing_from` when given: an earlier instant, to
    import the project's history (refused before the provider's billing start or in
    a finalized cycle, cycles.guard). Otherwise it starts at the beginning of the
    billing period that contains `now`, not at `now`: usage often carries timestamps
    from before the project was registered here (telemetry that arrives late), and
    every instant of the current cycle must bill to some account. That period is
    still open, so no finalized invoice can change; if cycles were closed ahead of
    time, the assignment starts at the end of the last finalized one instead. The
    assignment's month gets its billing cycle.

    The creator holds the project billing viewer role on it (PRODUCT: a
    project's creator sees its spend and may grant that to others), even if
    they already see it as an org admin, so it survives a change of their org role.
    """
    name, account = project_check(
        name=name, organization=organization, billing_account=billing_account
    )
    if billing_from is not None:
        billing_from = _instant(billing_from, "billing_from")
    with transaction.atomic():
        if billing_from is not None:
            cycle_guard(billing_from, field="billing_from")
            valid_from = billing_from
        else:
            valid_from = billing_period_containing(now).start
            until = finalized_until()
            if until is not None and until > valid_from:
                valid_from = until
        try:
            with transaction.atomic():
                project = Project.objects.create(
                    name=name, organization=organization, created_by=actor
                )
        except IntegrityError:
            raise ValidationError({"name": [PROJECT_NAME_TAKEN.format(name=name)]}) from None
        ProjectAccountAssignment.objects.create(
            project=project, billing_account=account, valid_from=valid_from, created_by=actor
        )
        cycles_ensure_for(instants=[valid_from], now=now)
        if actor is not None:
            RoleGrant.objects.get_or_create(
                user=actor, role=Role.PROJECT_BILLING_VIEWER, organization=None,
                project=project, defaults={"granted_by": actor},
            )
    return project


@dataclass(frozen=True)
class _MovePlan:
    effective_from: datetime
    delete_ids: tuple[int, ...]  # rows replaced: they start at or after the instant
    close: ProjectAccountAssignment | None  # the row in force at the instant: ends there
    reopen: ProjectAccountAssignment | None  # a row of the target account made open-ended


def _instant(when: datetime, field: str) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError({field: ["give a timezone-aware instant"]})
    try:
        return instant_utc(when)
    except ValueError as error:
        raise ValidationError({field: [str(error)]}) from None


def _move_plan(*, project: Project, billing_account: BillingAccount,
               effective_from: datetime | None, now: datetime) -> _MovePlan:
    when = _instant(effective_from or now, "effective_from")
    if billing_account.organization_id != project.organization_id:
        raise ValidationError({"billing_account": [ACCOUNT_OTHER_ORG.format(
            account=billing_account.name, org=project.organization.name)]})
    cycle_guard(when, field="effective_from")
    rows = list(ProjectAccountAssignment.objects.filter(project=project).order_by("valid_from"))

    def in_force_at(t: datetime) -> ProjectAccountAssignment | None:
        return next(
            (r for r in rows if r.valid_from <= t and (r.valid_to is None or t < r.valid_to)),
            None,
        )

    current = in_force_at(now)
    if current is not None and when < current.valid_from:
        raise ValidationError({"effective_from": [MOVE_BEFORE_CURRENT.format(
            when=when.isoformat(), since=current.valid_from.isoformat())]})
    at_when = in_force_at(when)
    if at_when is not None and at_when.billing_account_id == billing_account.pk:
        later = tuple(r.pk for r in rows if r.valid_from > when)
        if not later and at_when.valid_to is None:
            raise ValidationError({"billing_account": [
                MOVE_SAME_ACCOUNT.format(account=billing_account.name)]})
        # Moving to the account already in force cancels what was scheduled after it.
        return _MovePlan(effective_from=when, delete_ids=later, close=None, reopen=at_when)
    delete_ids = tuple(r.pk for r in rows if r.valid_from >= when)
    close = at_when if at_when is not None and at_when.valid_from < when else None
    # A row of the target account ending exactly at the instant is extended, not
    # followed by a twin: [a, t) + [t, ...) on one account is just [a, ...).
    touching = next(
        (r for r in rows if r.valid_to == when and r.billing_account_id == billing_account.pk),
        None,
    )
    return _MovePlan(effective_from=when, delete_ids=delete_ids, close=close, reopen=touching)


def project_move_check(*, project: Project, billing_account: BillingAccount,
                       effective_from: datetime | None, now: datetime) -> None:
    """The checks of `project_move`, without writing (admin forms use them)."""
    _move_plan(project=project, billing_account=billing_account,
               effective_from=effective_from, now=now)


@records_actor()
def project_move(*, project: Project, billing_account: BillingAccount,
                 effective_from: datetime | None, actor, now: datetime
                 ) -> ProjectAccountAssignment:
    """Bill the project to another account of its organization from `effective_from`
    (default `now`); usage splits exactly at that instant. Returns the row that
    bills to `billing_account` from the instant.

    The row in force at the instant is closed there and a new open row starts
    there. Rows starting at or after the instant (a scheduled move) are replaced:
    the instant is after the finalized boundary, so they never billed a
    finalized cycle. Moving to the account already in force at the instant only
    makes sense to cancel a scheduled move; otherwise it is refused.
    Refused: another organization's account, an instant inside a finalized
    cycle, an instant before the assignment in force now began.
    """
    with transaction.atomic():
        # The project row serializes moves of one project; rows are read after the lock.
        project = Project.objects.select_for_update().select_related("organization").get(
            pk=project.pk
        )
        plan = _move_plan(project=project, billing_account=billing_account,
                          effective_from=effective_from, now=now)
        cycles_ensure_for(instants=[plan.effective_from], now=now)
        assignments = ProjectAccountAssignment.objects
        # Windows close and reopen by bulk update (no signals).
        quota_cache_invalidate()
        if plan.delete_ids:
            assignments.filter(pk__in=plan.delete_ids).delete()
        if plan.close is not None:
            assignments.filter(pk=plan.close.pk).update(valid_to=plan.effective_from)
        if plan.reopen is not None:
            assignments.filter(pk=plan.reopen.pk).update(valid_to=None)
            plan.reopen.valid_to = None
            return plan.reopen
        return assignments.create(
            project=project, billing_account=billing_account,
            valid_from=plan.effective_from, created_by=actor,
        )
