"""Spend per user (seed 002: "what each user who created resources is spending").

A resource may name the user who created it (`Resource.created_by`); rating groups a
line's resources by creator (invoicing/domain/lines.py), so each line belongs to one
user or to none. A user's spend in a cycle is the sum of their lines' amounts; lines of
no resource (offers' fees, metered usage, credits) and of resources nobody was named
for are "not attributed to a user". The users' rows plus that row add up exactly to
the total of the lines in scope: whole lines, each rounded once.

Scope follows the roles (accounts/policy.py, INVOICE view SCOPE): fleet roles see
every line; an organization's admins and billing viewers see all of its accounts'
lines; a project's billing viewers see that project's lines only.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from accounts.access import Access, visible_projects
from accounts.models import Organization, Project
from cycles.models import BillingCycle
from invoicing.selectors import billed_lines


@dataclass(frozen=True)
class UserSpend:
    """One creator's spend; `username` "" and `user_id` None: not attributed."""

    user_id: int | None
    username: str
    amount: Decimal
    lines: int

    @property
    def attributed(self) -> bool:
        return self.user_id is not None


@dataclass(frozen=True)
class SpendByUser:
    total: Decimal
    users: list[UserSpend]  # largest spend first
    not_attributed: UserSpend


def spend_lines_visible(*, access: Access, cycle: BillingCycle,
                        organization: Organization | None = None,
                        project: Project | None = None,
                        using: str | None = None) -> QuerySet:
    """The cycle's billed lines `access` may see, narrowed to an organization or a
    project when given (the caller looked those up among the visible ones)."""
    lines = billed_lines(cycle=cycle, using=using)
    if not access.sees_fleet:
        lines = lines.filter(
            Q(project__in=visible_projects(access))
            # Account-level lines (fees) have no project: their organization's roles.
            | Q(project__isnull=True,
                invoice__billing_account__organization_id__in=access.org_ids)
        )
    if organization is not None:
        lines = lines.filter(invoice__billing_account__organization=organization)
    if project is not None:
        lines = lines.filter(project=project)
    return lines


def spend_by_user(*, lines: QuerySet) -> SpendByUser:
    """`lines` summed per creator (one query)."""
    rows = (
        lines.order_by().values("created_by_id", "created_by_name")
        .annotate(amount=Sum("amount"), count=Count("id"))
        .values_list("created_by_id", "created_by_name", "amount", "count")
    )
    users: dict[int, UserSpend] = {}
    loose_amount, loose_count = Decimal(0), 0
    for user_id, name, amount, count in rows:
        if user_id is None:
            loose_amount, loose_count = loose_amount + amount, loose_count + count
            continue
        # A user renamed mid-cycle: lines keep the name they were rated with.
        known = users.get(user_id)
        if known is not None:
            amount, count, name = amount + known.amount, count + known.lines, known.username
        users[user_id] = UserSpend(user_id=user_id, username=name, amount=amount, lines=count)
    ordered = sorted(users.values(), key=lambda u: (-u.amount, u.username))
    not_attributed = UserSpend(user_id=None, username="", amount=loose_amount,
                               lines=loose_count)
    total = sum((u.amount for u in ordered), loose_amount)
    return SpendByUser(total=total, users=ordered, not_attributed=not_attributed)


def user_lines(*, lines: QuerySet, user_id: int | None) -> QuerySet:
    """The lines of one creator (None: the lines attributed to no user), in invoice
    order, with what they print."""
    lines = lines.filter(created_by__isnull=True) if user_id is None else lines.filter(
        created_by_id=user_id)
    return lines.select_related("invoice__cycle").order_by("invoice_id", "sort_key", "id")
