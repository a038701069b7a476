"""What the browser tests see in provider gamma, built around the real "now".

- catalog: instance 4cpu-16gb at $0.10/min and disk 500gb at $0.05/min, region mars
- mars-corp: project adventure (2 instances with their disks) on account Main, project
  lab-rat (a disk) on account Lab; venus-corp: project secret-lab (an instance)
- last month closed (finalized invoices), this month open and rated up to now
- saturn-corp: 30 projects that ran nothing yet (so lists have more than one page)
- a public offer "Pro" (support service, $49 a month)
- users: chief (fleet admin, the provider's admin), carol (org admin of mars-corp),
  erin (project billing viewer of adventure)
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import BillingAccount, Role, RoleGrant
from core.periods import month_containing
from cycles.models import BillingCycle
from cycles.selectors import billing_period_containing
from invoicing.closing import cycle_close
from invoicing.rating_run import rating_run
from tenancy.selectors import provider_current
from tests.conftest import PASSWORD
from tests.factories import make_org, make_project
from tests.invoicing.builders import run_resource, seed_catalog, seed_prices


def build_browser_world() -> None:
    now = timezone.now()
    current = billing_period_containing(now)
    previous = month_containing(current.start - timedelta(seconds=1),
                                provider_current().billing_timezone)
    instance, disk = seed_catalog()
    seed_prices(instance, disk, valid_from=previous.start)

    mars = make_org("mars-corp")
    adventure = make_project("adventure", mars, since=previous.start)
    lab = BillingAccount.objects.create(organization=mars, name="Lab")
    lab_rat = make_project("lab-rat", mars, account=lab, since=previous.start)
    venus = make_org("venus-corp")
    secret_lab = make_project("secret-lab", venus, since=previous.start)
    for i in range(2):
        vm = run_resource(f"i-{i:02d}", instance, "4cpu-16gb", adventure, since=previous.start)
        run_resource(f"d-{i:02d}", disk, "500gb", adventure, since=previous.start, parent=vm)
    run_resource("d-lab", disk, "500gb", lab_rat, since=previous.start)
    run_resource("i-secret", instance, "4cpu-16gb", secret_lab, since=previous.start)
    saturn = make_org("saturn-corp")
    for i in range(30):
        make_project(f"moon-{i:02d}", saturn, since=previous.start)

    last_month = BillingCycle.objects.create(start=previous.start, end=previous.end,
                                             label=previous.start.strftime("%Y-%m"))
    this_month = BillingCycle.objects.create(
        start=current.start, end=current.end,
        label=current.start.astimezone(current.start.tzinfo).strftime("%Y-%m"))
    rating_run(cycle=last_month, now=previous.end)
    cycle_close(cycle=last_month, now=now)
    rating_run(cycle=this_month, now=now)

    _offer(now)
    users = get_user_model().objects
    carol = users.create_user(username="carol", password=PASSWORD)
    RoleGrant.objects.create(user=carol, role=Role.ORG_ADMIN, organization=mars)
    erin = users.create_user(username="erin", password=PASSWORD)
    RoleGrant.objects.create(user=erin, role=Role.PROJECT_BILLING_VIEWER, project=adventure)


def _offer(now) -> None:
    from catalog.services.features import service_create
    from catalog.services.offers import OfferContent, offer_create

    service_create(key="support", name="Support")
    offer_create(
        key="pro", name="Pro", description="Business-hours support and a named engineer.",
        content=OfferContent(services=["support"], charges=[
            {"model": "recurring", "name": "Pro support", "amount": "49", "service": "support"},
        ]),
        now=now,
    )
