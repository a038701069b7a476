"""Test data for the dashboards: the chargeback seed in a provider, with people in every role.

`build_world` writes, in the current schema:
- catalog: instance 4cpu-16gb ($0.10/min) and disk 500gb ($0.05/min) in region mars
- mars-corp (accounts Main, default, and Lab) with project adventure: 2 instances and
  their disks since September 2020; project lab-rat (Lab account) with one disk from Oct 5
- venus-corp with project secret-lab: one instance from October 1
- September 2020 closed (finalized invoices), October 2020 open, rated until Oct 11 00:00
- users (password PASSWORD): ops (fleet viewer), chief (fleet admin), carol (org admin of
  mars-corp), dave (org billing viewer of mars-corp), erin (project billing viewer of
  adventure), frank (no role), vera (org admin of venus-corp)

`grow_world` adds many more organizations, projects, resources, credits and invoices, so
query counts can be compared between small and larger data.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model

from accounts.models import BillingAccount, Organization, Project, Role, RoleGrant
from cycles.models import BillingCycle
from invoicing.closing import cycle_close
from invoicing.models import Credit, CreditScope
from invoicing.rating_run import rating_run
from tests.conftest import PASSWORD
from tests.factories import make_org, make_project
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    SEP_START,
    make_cycle,
    run_resource,
    seed_adventure,
    seed_prices,
)

User = get_user_model()
RATED_UNTIL = datetime(2020, 10, 11, tzinfo=UTC)


@dataclass
class World:
    mars: Organization
    venus: Organization
    adventure: Project
    lab_rat: Project
    secret_lab: Project
    september: BillingCycle
    october: BillingCycle
    instance: object
    disk: object


def user(username: str, role: str | None = None, *, organization=None, project=None,
         superuser: bool = False):
    account = User.objects.create_user(username=username, password=PASSWORD,
                                       is_superuser=superuser, is_staff=superuser)
    if role:
        RoleGrant.objects.create(user=account, role=role, organization=organization,
                                 project=project)
    return account


def build_world() -> World:
    mars, adventure, instance, disk = seed_adventure(instances=2)
    seed_prices(instance, disk)
    lab = BillingAccount.objects.create(organization=mars, name="Lab")
    lab_rat = make_project("lab-rat", mars, account=lab)
    run_resource("d-lab", disk, "500gb", lab_rat, since=datetime(2020, 10, 5, tzinfo=UTC))
    venus = make_org("venus-corp")
    secret_lab = make_project("secret-lab", venus)
    run_resource("i-secret", instance, "4cpu-16gb", secret_lab, since=OCT_START)

    september = make_cycle(SEP_START, OCT_START, "2020-09")
    october = make_cycle(OCT_START, NOV_START, "2020-10")
    rating_run(cycle=september, now=OCT_START)
    cycle_close(cycle=september, now=OCT_START)
    rating_run(cycle=october, now=RATED_UNTIL)

    user("ops", Role.FLEET_VIEWER)
    user("chief", Role.FLEET_ADMIN)
    user("carol", Role.ORG_ADMIN, organization=mars)
    user("dave", Role.ORG_BILLING_VIEWER, organization=mars)
    user("erin", Role.PROJECT_BILLING_VIEWER, project=adventure)
    user("frank")
    user("vera", Role.ORG_ADMIN, organization=venus)
    return World(mars=mars, venus=venus, adventure=adventure, lab_rat=lab_rat,
                 secret_lab=secret_lab, september=september, october=october,
                 instance=instance, disk=disk)


def grow_world(world: World, *, organizations: int = 12, projects_each: int = 4,
               prefix: str = "") -> None:
    """Many more organizations, projects, resources and credits, rated into October."""
    for o in range(organizations):
        org = make_org(f"{prefix}org-{o:02d}")
        for p in range(projects_each):
            name = f"{prefix}{o:02d}-{p}"
            project = make_project(f"p-{name}", org)
            vm = run_resource(f"i-{name}", world.instance, "4cpu-16gb", project,
                              since=SEP_START)
            run_resource(f"d-{name}", world.disk, "500gb", project, since=SEP_START,
                         parent=vm)
        Credit.objects.create(
            name=f"Outage {o}", description="Rack power", scope=CreditScope.ORGANIZATION,
            organization=org, window_start=datetime(2020, 10, 2, tzinfo=UTC),
            window_end=datetime(2020, 10, 2, 6, tzinfo=UTC),
        )
    # September is finalized and stays as issued; October's drafts take every project.
    rating_run(cycle=world.october, now=RATED_UNTIL)
