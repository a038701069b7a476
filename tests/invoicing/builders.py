"""The chargeback seed as test data: region mars, project adventure, instances and disks."""

from datetime import UTC, datetime

from catalog.models import Region
from cycles.models import BillingCycle, CycleStatus
from metering.models import LifecycleEvent, LifecycleKind, Resource
from tests import factories
from tests.factories import make_org, make_price, make_project, make_resource_type

OCT_START = datetime(2020, 10, 1, tzinfo=UTC)
NOV_START = datetime(2020, 11, 1, tzinfo=UTC)
SEP_START = datetime(2020, 9, 1, tzinfo=UTC)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def seed_catalog():
    instance = make_resource_type("instance", "Instance", {"4cpu-16gb": "4 CPU, 16 GB Memory"})
    disk = make_resource_type("disk", "Disk", {"500gb": "500GB Virtual Disk"})
    if not Region.objects.filter(key="mars").exists():
        Region.objects.create(key="mars", name="Mars")
    return instance, disk


def seed_prices(instance, disk, *, valid_from=None):
    kwargs = {"valid_from": valid_from} if valid_from else {}
    return (make_price(instance, "0.10", "minute", variant="4cpu-16gb", **kwargs),
            make_price(disk, "0.05", "minute", variant="500gb", **kwargs))


def make_cycle(start: datetime, end: datetime, label: str,
               status: str = CycleStatus.OPEN) -> BillingCycle:
    return factories.make_cycle(start, end, label, status)


_event_counter = [0]


def run_resource(resource_id: str, metric, variant: str, project, *, since: datetime,
                 region: str = "mars", service_class: str = "standard", parent=None,
                 events=()) -> Resource:
    """A resource created at `since`, running until its `events` say otherwise."""
    resource = Resource.objects.create(
        resource_id=resource_id, metric=metric, project=project, variant=variant, region=region,
        service_class=service_class, parent=parent,
    )
    add_event(resource, LifecycleKind.CREATED, since, variant)
    for kind, when, *rest in events:
        add_event(resource, kind, when, rest[0] if rest else resource.variant)
    return resource


def add_event(resource: Resource, kind: str, when: datetime, variant: str | None = None):
    _event_counter[0] += 1
    return LifecycleEvent.objects.create(
        event_id=f"evt-{resource.resource_id}-{_event_counter[0]}", resource=resource, kind=kind,
        occurred_at=when, variant=variant or resource.variant, received_at=when,
    )


def seed_adventure(*, since: datetime = SEP_START, instances: int = 15):
    """The seed's sample: 15 4cpu-16gb instances, each with a 500gb disk attached."""
    instance, disk = seed_catalog()
    org = make_org("mars-corp")
    project = make_project("adventure", org)
    for i in range(instances):
        vm = run_resource(f"i-{i:02d}", instance, "4cpu-16gb", project, since=since)
        run_resource(f"d-{i:02d}", disk, "500gb", project, since=since, parent=vm)
    return org, project, instance, disk
