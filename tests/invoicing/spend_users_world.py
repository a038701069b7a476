"""Test data for spend per user: resources sent with their creators, rated into October.

`build_users_world` writes, in the current schema:
- instance 4cpu-16gb at $0.0133333/min (amounts that round), disk 500gb at $0.05/min
- mars-corp: adventure (default account) and telescope (account Lab); venus-corp:
  secret-lab
- users (password PASSWORD): alice (billing viewer of adventure), bram (billing viewer of
  telescope), carol (org admin of mars-corp), vera (org admin of venus-corp), ops (fleet
  viewer)
- through lifecycle ingestion, from Oct 1 (some at odd minutes): alice created two
  instances and a disk in adventure; bram one instance in adventure and one in telescope;
  a disk in telescope and an instance in adventure name no creator; vera one instance in
  secret-lab
- an SLA credit on mars-corp (a line of no user); October rated until Oct 11 00:00
"""

from datetime import UTC, datetime, timedelta

from accounts.models import BillingAccount, Role
from invoicing.models import Credit, CreditScope
from invoicing.rating_run import rating_run
from metering.lifecycle_ingest import lifecycle_events_ingest
from tests.dashboards.world import user
from tests.factories import make_org, make_price, make_project
from tests.invoicing.builders import NOV_START, OCT_START, make_cycle, seed_catalog

RATED_UNTIL = datetime(2020, 10, 11, tzinfo=UTC)

# (resource, type, variant, project, creator, minutes after Oct 1 00:00, parent)
RESOURCES = [
    ("i-alice-1", "instance", "4cpu-16gb", "adventure", "alice", 7, None),
    ("i-alice-2", "instance", "4cpu-16gb", "adventure", "alice", 613, None),
    ("d-alice-1", "disk", "500gb", "adventure", "alice", 7, "i-alice-1"),
    ("i-bram-adv", "instance", "4cpu-16gb", "adventure", "bram", 1441, None),
    ("i-bram-tel", "instance", "4cpu-16gb", "telescope", "bram", 59, None),
    ("d-tel", "disk", "500gb", "telescope", None, 3, None),
    ("i-nobody", "instance", "4cpu-16gb", "adventure", None, 11, None),
    ("i-vera", "instance", "4cpu-16gb", "secret-lab", "vera", 1, None),
]


def lifecycle_item(resource_id, rtype, variant, project, creator, minutes, parent) -> dict:
    item = {
        "event_id": f"evt-{resource_id}", "resource_id": resource_id, "kind": "created",
        "resource_type": rtype, "variant": variant, "project": project, "region": "mars",
        "occurred_at": (OCT_START + timedelta(minutes=minutes)).isoformat(),
    }
    if creator is not None:
        item["created_by"] = creator
    if parent is not None:
        item["parent_resource_id"] = parent
    return item


def build_users_world() -> dict:
    instance, disk = seed_catalog()
    make_price(instance, "0.0133333", "minute", variant="4cpu-16gb")
    make_price(disk, "0.05", "minute", variant="500gb")
    mars = make_org("mars-corp")
    lab = BillingAccount.objects.create(organization=mars, name="Lab")
    adventure = make_project("adventure", mars)
    telescope = make_project("telescope", mars, account=lab)
    venus = make_org("venus-corp")
    secret_lab = make_project("secret-lab", venus)
    user("alice", Role.PROJECT_BILLING_VIEWER, project=adventure)
    user("bram", Role.PROJECT_BILLING_VIEWER, project=telescope)
    user("carol", Role.ORG_ADMIN, organization=mars)
    user("vera", Role.ORG_ADMIN, organization=venus)
    user("ops", Role.FLEET_VIEWER)
    october = make_cycle(OCT_START, NOV_START, "2020-10")
    result = lifecycle_events_ingest(items=[lifecycle_item(*r) for r in RESOURCES],
                                     now=RATED_UNTIL)
    assert result.accepted == len(RESOURCES), result.items
    Credit.objects.create(
        name="Rack outage", description="Power", scope=CreditScope.ORGANIZATION,
        organization=mars, window_start=datetime(2020, 10, 2, tzinfo=UTC),
        window_end=datetime(2020, 10, 2, 5, 30, tzinfo=UTC),
    )
    rating_run(cycle=october, now=RATED_UNTIL)
    return {"mars": mars, "venus": venus, "adventure": adventure, "telescope": telescope,
            "secret_lab": secret_lab, "october": october}
