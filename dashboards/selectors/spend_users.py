"""Spend per user on the dashboards: invoicing's selector (invoicing/spend_by_user.py)
read from the replica, narrowed to what the caller may see."""

from django.db.models import QuerySet

from accounts.access import Access, visible_organizations, visible_projects
from accounts.models import Organization, Project
from core.replica import read_alias
from cycles.models import BillingCycle
from invoicing.spend_by_user import SpendByUser, spend_by_user, spend_lines_visible, user_lines


def scope_named(*, access: Access, organization: str, project: str
                ) -> tuple[Organization | None, Project | None, bool]:
    """The visible organization and project the page is narrowed to, and whether every
    name given was found (a name the caller may not see is not found)."""
    org = proj = None
    found = True
    if organization:
        org = visible_organizations(access).using(read_alias()).filter(
            name=organization).first()
        found = org is not None
    if project:
        proj = visible_projects(access).using(read_alias()).filter(name=project).first()
        found = found and proj is not None
    return org, proj, found


def users_spend(*, access: Access, cycle: BillingCycle, organization: Organization | None,
                project: Project | None) -> tuple[QuerySet, SpendByUser]:
    """The lines in scope and their spend per user (one query for the sums)."""
    lines = spend_lines_visible(access=access, cycle=cycle, organization=organization,
                                project=project, using=read_alias())
    return lines, spend_by_user(lines=lines)


def one_users_lines(*, lines: QuerySet, user_id: int | None) -> QuerySet:
    return user_lines(lines=lines, user_id=user_id)
