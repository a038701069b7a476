"""Shared builders for the budgets tests: the seed's project with a budget, users with
addresses and roles."""

from decimal import Decimal

from django.contrib.auth import get_user_model

from accounts.models import Role, RoleGrant
from budgets.alerts import budget_alerts_evaluate
from budgets.services import budget_create
from cycles.models import BillingCycle
from invoicing.jobs import rate_open_cycles as invoicing_rate_open_cycles
from tests.conftest import PASSWORD
from tests.invoicing.builders import at, seed_adventure, seed_prices

# 1 instance (0.10/min) and its disk (0.05/min) from September: 216.00 per day.
# Rated until 2020-10-11 00:00 UTC, October has cost 10 days: 2160.00.
TEN_DAYS = Decimal("2160.00")
NOW = at(2020, 10, 11)


def make_user(username: str, *, email: str | None = None):
    return get_user_model().objects.create_user(
        username=username, password=PASSWORD,
        email=f"{username}@example.com" if email is None else email,
    )


def grant(user, role, *, organization=None, project=None):
    return RoleGrant.objects.create(user=user, role=role, organization=organization,
                                    project=project)


def seed_world():
    """The seed's mars-corp / adventure (1 instance and its disk, priced), with users:
    orgadmin and orgviewer of mars-corp, projviewer of adventure, nobody."""
    org, project, instance, disk = seed_adventure(instances=1)
    seed_prices(instance, disk)
    users = {name: make_user(name) for name in ("orgadmin", "orgviewer", "projviewer",
                                                 "nobody")}
    grant(users["orgadmin"], Role.ORG_ADMIN, organization=org)
    grant(users["orgviewer"], Role.ORG_BILLING_VIEWER, organization=org)
    grant(users["projviewer"], Role.PROJECT_BILLING_VIEWER, project=project)
    return {"org": org, "project": project, "instance": instance, "disk": disk, **users}


def project_budget(world, *, amount="2500.00", thresholds=(50, 80, 100), users=(),
                   emails=("fin@mars.example",), **kwargs):
    return budget_create(
        project=world["project"], name="Adventure monthly", amount=Decimal(amount),
        thresholds=list(thresholds), recipient_usernames=list(users),
        recipient_emails=list(emails), actor=world["projviewer"], now=at(2020, 10, 1),
        **kwargs,
    )


def rate_open_cycles(*, now):
    """The beat job as workers run it: rate every open cycle, then the budget check each
    rating queues (after commit, as a task, in production; here, right away)."""
    results = invoicing_rate_open_cycles(now=now)
    for cycle in BillingCycle.objects.filter(label__in=[r.cycle for r in results]):
        budget_alerts_evaluate(cycle=cycle, now=now)
    return results
