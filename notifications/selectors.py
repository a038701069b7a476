"""Reads of notifications: who gets which email, what was sent, and users' choices."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q

from accounts.access import Access
from accounts.models import (
    ORG_ROLES,
    BillingAccount,
    Organization,
    Project,
    Role,
    RoleGrant,
)
from notifications.models import NotificationPreference, OutboxMessage, WebhookDelivery

SCOPE_PROJECT, SCOPE_ORGANIZATION = "project", "organization"


def outbox_statuses(*, keys) -> dict[str, str]:
    """The outbox status of each email, by outbox key (one query)."""
    return dict(OutboxMessage.objects.filter(key__in=list(keys)).values_list("key", "status"))


def webhook_keys_existing(*, keys) -> set[str]:
    """Which of these webhook keys have a delivery already (one query)."""
    return set(WebhookDelivery.objects.filter(key__in=list(keys)).values_list("key", flat=True))


@dataclass(frozen=True)
class PreferenceView:
    """A user's effective preference on one organization or project (defaults if unset)."""

    scope: str
    organization: str | None
    project: str | None
    invoice_email: bool
    budget_email: bool
    budget_min_threshold: int
    is_default: bool
    payment_email: bool = True
    credit_email: bool = True
    organization_id: int | None = None
    project_id: int | None = None


def _view(*, organization: Organization | None, project: Project | None,
          row: NotificationPreference | None) -> PreferenceView:
    return PreferenceView(
        scope=SCOPE_PROJECT if project is not None else SCOPE_ORGANIZATION,
        organization=(project.organization.name if project is not None
                      else organization.name),
        project=project.name if project is not None else None,
        invoice_email=row.invoice_email if row else True,
        budget_email=row.budget_email if row else True,
        budget_min_threshold=row.budget_min_threshold if row else 0,
        is_default=row is None,
        payment_email=row.payment_email if row else True,
        credit_email=row.credit_email if row else True,
        organization_id=organization.pk if organization is not None else None,
        project_id=project.pk if project is not None else None,
    )


def notification_preference_get(*, user, organization: Organization | None = None,
                                project: Project | None = None) -> PreferenceView:
    if (organization is None) == (project is None):
        raise ValueError("give exactly one of organization and project")
    row = NotificationPreference.objects.filter(
        user=user, organization=organization, project=project
    ).first()
    return _view(organization=organization, project=project, row=row)


def notification_preference_list(*, user, access: Access) -> list[PreferenceView]:
    """The caller's preferences: every organization and project they hold a billing role
    on (defaults where they never chose), and any other row they saved. Three queries."""
    rows = list(
        NotificationPreference.objects.filter(user=user)
        .select_related("organization", "project__organization")
    )
    by_org = {row.organization_id: row for row in rows if row.organization_id}
    by_project = {row.project_id: row for row in rows if row.project_id}
    organizations = Organization.objects.filter(
        Q(pk__in=access.org_ids) | Q(pk__in=by_org.keys())
    ).order_by("name")
    projects = Project.objects.filter(
        Q(pk__in=access.viewer_project_ids) | Q(pk__in=by_project.keys())
    ).select_related("organization").order_by("name")
    views = [_view(organization=o, project=None, row=by_org.get(o.pk)) for o in organizations]
    views += [_view(organization=None, project=p, row=by_project.get(p.pk)) for p in projects]
    return views


def budget_email_opt_outs(*, user_ids) -> tuple[set[tuple[int, int]], set[tuple[int, int]],
                                                 set[tuple[int, int]]]:
    """(user, organization) and (user, project) pairs that turned budget email off, and
    (user, project) pairs that turned it explicitly on (a project's row wins over its
    organization's). One query."""
    org_off: set[tuple[int, int]] = set()
    project_off: set[tuple[int, int]] = set()
    project_on: set[tuple[int, int]] = set()
    rows = NotificationPreference.objects.filter(user_id__in=list(user_ids)).values_list(
        "user_id", "organization_id", "project_id", "budget_email"
    )
    for user_id, organization_id, project_id, budget_email in rows:
        if project_id is not None:
            (project_on if budget_email else project_off).add((user_id, project_id))
        elif not budget_email:
            org_off.add((user_id, organization_id))
    return org_off, project_off, project_on


def budget_email_min_thresholds(*, user_ids) -> tuple[dict[tuple[int, int], int],
                                                       dict[tuple[int, int], int]]:
    """The lowest threshold each user wants budget email for, by (user, organization)
    and by (user, project); a project's row wins over its organization's. One query."""
    by_org: dict[tuple[int, int], int] = {}
    by_project: dict[tuple[int, int], int] = {}
    rows = NotificationPreference.objects.filter(
        user_id__in=list(user_ids)).values_list(
        "user_id", "organization_id", "project_id", "budget_min_threshold")
    for user_id, organization_id, project_id, minimum in rows:
        if project_id is not None:
            by_project[(user_id, project_id)] = minimum
        else:
            by_org[(user_id, organization_id)] = minimum
    return by_org, by_project


def _account_recipients(billing_account: BillingAccount, *, roles, preference: str
                        ) -> list[str]:
    """The account's billing contacts, plus the organization's users holding one of
    `roles` (active, with an email address) who did not turn `preference` off for the
    organization. Lowercased, each address once, contacts first then users, each group
    sorted. Two queries."""
    contacts = sorted(
        email.strip().lower()
        for email in billing_account.contacts.values_list("email", flat=True)
        if email and email.strip()
    )
    opted_out = NotificationPreference.objects.filter(
        organization_id=billing_account.organization_id, **{preference: False}
    ).values("user_id")
    users = (
        get_user_model().objects.filter(
            is_active=True,
            pk__in=RoleGrant.objects.filter(
                organization_id=billing_account.organization_id, role__in=roles
            ).values("user_id"),
        )
        .exclude(email="")
        .exclude(pk__in=opted_out)
        .values_list("email", flat=True)
    )
    out: list[str] = []
    for email in [*contacts, *sorted(e.strip().lower() for e in users)]:
        if email and email not in out:
            out.append(email)
    return out


def invoice_email_recipients(billing_account: BillingAccount) -> list[str]:
    """Who receives the account's monthly invoice email: its billing contacts, plus the
    organization's billing users (org admins and org billing viewers) who did not turn
    `invoice_email` off for the organization."""
    return _account_recipients(billing_account, roles=ORG_ROLES, preference="invoice_email")


def payment_email_recipients(billing_account: BillingAccount) -> list[str]:
    """Who hears that a card payment of the account failed or needs the customer: its
    billing contacts, plus the organization's admins who did not turn `payment_email`
    off for the organization."""
    return _account_recipients(billing_account, roles=(Role.ORG_ADMIN,),
                               preference="payment_email")


def credit_email_recipients(*, organization_id: int | None = None,
                            project_id: int | None = None) -> list[str]:
    """Who hears that a credit was added, for one scope (exactly one of the two): an
    organization's admins and billing viewers, or a project's billing viewers, who did
    not turn `credit_email` off for that scope. Active users with an email address;
    lowercased, each once, sorted. One query."""
    if (organization_id is None) == (project_id is None):
        raise ValueError("give exactly one of organization_id and project_id")
    if organization_id is not None:
        grants = RoleGrant.objects.filter(
            organization_id=organization_id, role__in=(Role.ORG_ADMIN, Role.ORG_BILLING_VIEWER))
        opted_out = NotificationPreference.objects.filter(
            organization_id=organization_id, credit_email=False)
    else:
        grants = RoleGrant.objects.filter(project_id=project_id,
                                          role=Role.PROJECT_BILLING_VIEWER)
        opted_out = NotificationPreference.objects.filter(project_id=project_id,
                                                          credit_email=False)
    emails = (
        get_user_model().objects.filter(is_active=True, pk__in=grants.values("user_id"))
        .exclude(email="").exclude(pk__in=opted_out.values("user_id"))
        .values_list("email", flat=True)
    )
    return sorted({e.strip().lower() for e in emails if e.strip()})
