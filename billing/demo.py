"""Demo data for the demo providers: a private cloud charging back its teams, and a
Datum-like public cloud selling offers to consumers.

Loaded through the same services the API uses (prices, organizations, projects,
lifecycle and usage ingestion, rating, closing), so the demo shows the real paths: last
month's invoices are finalized and numbered, this month's drafts are current.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model

from accounts.access import access_for
from accounts.capacity import project_quota_set
from accounts.entitlements import entitlement_accept
from accounts.grants import role_grant
from accounts.models import Organization, PaymentKind, Project, Role
from accounts.organizations import billing_account_create, billing_contact_add, organization_create
from accounts.projects import project_create
from billing.demo_people import chargeback_people_create, datum_creator
from catalog.models import PriceChangeSource
from catalog.services.features import feature_create, service_create
from catalog.services.list_prices import price_set
from catalog.services.metrics import metric_create, metric_service_set
from catalog.services.offers import OfferContent, offer_create
from catalog.services.resource_types import region_create, resource_type_create
from core.periods import month_containing
from cycles.selectors import billing_start_at, month_label
from cycles.services import billing_start_set, cycles_ensure_for
from invoicing.jobs import close_due_cycles, rate_open_cycles
from metering.lifecycle_ingest import lifecycle_events_ingest
from metering.usage_ingest import usage_events_ingest
from tenancy.selectors import provider_current

DAY = timedelta(days=1)


@dataclass(frozen=True)
class DemoLoaded:
    organizations: int
    projects: int
    events: int
    invoices_finalized: int


class _Events:
    """Builds lifecycle event items the way another system would send them."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def resource(self, rid, rtype, variant, project, region, *, at, service_class="standard",
                 parent=None, later=(), creator=None):
        def item(kind, when, variant_now):
            self.items.append({
                "event_id": f"demo-{rid}-{len(self.items)}", "resource_id": rid, "kind": kind,
                "resource_type": rtype, "variant": variant_now, "project": project,
                "region": region, "service_class": service_class,
                "parent_resource_id": parent, "occurred_at": when.isoformat(),
                **({"created_by": creator} if creator else {}),
            })

        item("created", at, variant)
        for kind, when, *rest in later:
            item(kind, when, rest[0] if rest else variant)


def _last_month_start(now: datetime) -> datetime:
    """Where the demo's history begins: the start of the billing month before `now`'s."""
    zone = provider_current().billing_timezone
    this_month = month_containing(now, zone)
    return month_containing(this_month.start - timedelta(seconds=1), zone).start


def _bill_from(history: datetime) -> None:
    """Move the provider's billing start back to where the demo's history begins."""
    if billing_start_at() > history:
        billing_start_set(month=month_label(history))


def _fleet_admin():
    """The first fleet admin: the demo's prices and organizations are theirs."""
    users = get_user_model().objects
    return users.filter(role_grants__role=Role.FLEET_ADMIN).order_by("pk").first()


def _consumer_user():
    """The demo's consumer login, when it exists."""
    return get_user_model().objects.filter(username="consumer").first()


def _happened(items: list[dict], *, now: datetime) -> list[dict]:
    """The events that occurred before `now` (the rest are still to come)."""
    return [e for e in items if e["occurred_at"] < now.isoformat()]


def _ingest_and_bill(*, lifecycle: list[dict], usage: list[dict], history: datetime,
                     now: datetime) -> int:
    """Ingest the demo's events, open the cycles from `history` to `now`, close the due
    ones and rate the open ones; returns how many invoices were finalized."""
    lifecycle_events_ingest(items=lifecycle, now=now)
    for start in range(0, len(usage), 4000):
        usage_events_ingest(items=usage[start:start + 4000], now=now)
    cycles_ensure_for(instants=[history, now], now=now)
    closed = close_due_cycles(now=now)
    rate_open_cycles(now=now)
    return sum(result.finalized for result in closed)


# --- the chargeback demo: a private cloud charging back its teams -------------------------

RESOURCE_TYPES = [
    ("instance", "Instance", "instance",
     [("2cpu-8gb", "2 CPU, 8 GB Memory"), ("4cpu-16gb", "4 CPU, 16 GB Memory"),
      ("8cpu-32gb", "8 CPU, 32 GB Memory")]),
    ("disk", "Disk", "disk", [("100gb", "100GB Virtual Disk"), ("500gb", "500GB Virtual Disk")]),
    ("ip", "IP address", "address", [("public-v4", "Public IPv4")]),
    ("vpc", "VPC", "network", [("default", "Virtual private cloud")]),
]
# (type, variant, region, class, rate, unit)
PRICES = [
    ("instance", "2cpu-8gb", "", "", "0.05", "minute"),
    ("instance", "4cpu-16gb", "", "", "0.10", "minute"),
    ("instance", "8cpu-32gb", "", "", "0.20", "minute"),
    ("instance", "4cpu-16gb", "venus", "", "0.12", "minute"),
    # Spot capacity, beside the standard price of each machine type (issue 18).
    ("instance", "2cpu-8gb", "", "spot", "0.015", "minute"),
    ("instance", "4cpu-16gb", "", "spot", "0.03", "minute"),
    ("instance", "8cpu-32gb", "", "spot", "0.06", "minute"),
    ("disk", "100gb", "", "", "0.01", "minute"),
    ("disk", "500gb", "", "", "0.05", "minute"),
    ("ip", "", "", "", "0.005", "hour"),
    ("vpc", "", "", "", "0", "day"),
]


def demo_chargeback_load(*, now: datetime) -> DemoLoaded | None:
    """Load the demo once; returns None when it is already there."""
    if Organization.objects.filter(name="mars-corp").exists():
        return None
    history = _last_month_start(now)  # everything below happened from here on
    _bill_from(history)
    operator = _fleet_admin()
    _chargeback_catalog_create(operator=operator, history=history)
    projects = _chargeback_organizations_create(operator=operator, history=history)
    chargeback_people_create(projects=projects, operator=operator)
    consumer = _consumer_user()
    events = _chargeback_events(start=history + timedelta(hours=1), now=now,
                                consumer=consumer.username if consumer else None)
    _chargeback_quotas_set(projects=projects, operator=operator, history=history)
    past = _happened(events.items, now=now)
    finalized = _ingest_and_bill(lifecycle=past, usage=[], history=history, now=now)
    return DemoLoaded(organizations=2, projects=len(projects), events=len(past),
                      invoices_finalized=finalized)


def _chargeback_catalog_create(*, operator, history: datetime) -> None:
    for key, name, unit, variants in RESOURCE_TYPES:
        resource_type_create(key=key, name=name, unit=unit, variants=variants)
    region_create(key="mars", name="Mars")
    region_create(key="venus", name="Venus")
    for rtype, variant, region, service_class, rate, unit in PRICES:
        price_set(metric_key=rtype, variant=variant, region=region, service_class=service_class,
                  rate=Decimal(rate), time_unit=unit, effective_from=history, now=history,
                  actor=operator, source=PriceChangeSource.DEMO)


def _chargeback_organizations_create(*, operator, history: datetime) -> dict[str, Project]:
    """Mars Corp (two billing accounts, three projects) and Venus Labs (one project);
    the consumer login administers Mars Corp."""
    mars = organization_create(name="mars-corp", display_name="Mars Corp", actor=operator,
                               now=history)
    billing_contact_add(billing_account=mars.billing_accounts.get(is_default=True),
                        email="finance@mars.example", name="Mars Finance")
    research = billing_account_create(organization=mars, name="Research",
                                      payment_kind=PaymentKind.CHARGEBACK,
                                      contacts=["research-finance@mars.example"],
                                      actor=operator, now=history)
    venus = organization_create(name="venus-labs", display_name="Venus Labs", actor=operator,
                                now=history)
    billing_contact_add(billing_account=venus.billing_accounts.get(is_default=True),
                        email="payables@venus.example", name="Venus Payables")
    projects = {
        "adventure": project_create(name="adventure", organization=mars, actor=operator,
                                    now=history),
        "telescope": project_create(name="telescope", organization=mars, actor=operator,
                                    now=history, billing_account=research),
        "discovery": project_create(name="discovery", organization=mars, actor=operator,
                                    now=history),
        "greenhouse": project_create(name="greenhouse", organization=venus, actor=operator,
                                     now=history),
    }
    consumer = _consumer_user()
    if consumer is not None:
        role_grant(user=consumer, role=Role.ORG_ADMIN, organization=mars, granted_by=operator,
                   access=access_for(operator))
    return projects


def _chargeback_events(*, start: datetime, now: datetime, consumer: str | None) -> _Events:
    """The teams' resources from `start` on (some of their events still to come), each
    named with the person who created it (billing/demo_people.py; the consumer login,
    an admin of Mars Corp, when it exists); the VPC names nobody."""
    events = _Events()
    # The seed's sample: 15 instances with their 500 GB disks in region mars.
    for i in range(15):
        events.resource(f"adv-vm-{i:02d}", "instance", "4cpu-16gb", "adventure", "mars",
                        at=start, creator="ada")
        events.resource(f"adv-disk-{i:02d}", "disk", "500gb", "adventure", "mars", at=start,
                        parent=f"adv-vm-{i:02d}", creator="ada")
    events.resource("adv-ip-1", "ip", "public-v4", "adventure", "mars", at=start,
                    creator=consumer)
    events.resource("adv-vpc", "vpc", "default", "adventure", "mars", at=start)
    # Telescope: big machines in venus, stopped at night for a week, one resized.
    for i in range(4):
        later = [("stopped", start + 5 * DAY), ("started", start + 12 * DAY)]
        if i == 0:
            later.append(("resized", start + 20 * DAY, "4cpu-16gb"))
        events.resource(f"tel-vm-{i}", "instance", "8cpu-32gb", "telescope", "venus",
                        at=start + DAY, later=later, creator="grace")
        events.resource(f"tel-disk-{i}", "disk", "100gb", "telescope", "venus",
                        at=start + DAY, parent=f"tel-vm-{i}", creator="grace")
    # Discovery: spot batch jobs that come and go.
    for i in range(6):
        begin = start + (3 + i * 4) * DAY
        events.resource(f"dis-spot-{i}", "instance", "2cpu-8gb", "discovery", "mars",
                        at=begin, service_class="spot", creator="katherine",
                        later=[("deleted", min(begin + 9 * DAY, now - timedelta(hours=1)))])
    # Greenhouse (Venus Labs): a small steady service.
    for i in range(3):
        events.resource(f"gh-vm-{i}", "instance", "4cpu-16gb", "greenhouse", "venus",
                        at=start + 2 * DAY, creator="hedy")
    events.resource("gh-ip", "ip", "public-v4", "greenhouse", "venus", at=start + 2 * DAY)
    return events


def _chargeback_quotas_set(*, projects: dict[str, Project], operator,
                           history: datetime) -> None:
    # Capacity the teams asked for: part of it idles (the unused-quota widget).
    for project, rtype, variant, region, allocated in (
        ("adventure", "instance", "4cpu-16gb", "mars", 20),
        ("adventure", "disk", "500gb", "mars", 20),
        ("telescope", "instance", "8cpu-32gb", "venus", 6),
    ):
        project_quota_set(project=projects[project], resource_type=rtype, variant=variant,
                          region=region, allocated=allocated, actor=operator, now=history)


# --- the consumer demo: a Datum-like public cloud that sells offers ------------------------
#
# It lives on its own provider ("datum", billing mode "offers"): the chargeback demo's
# provider prices running time by its list prices, which a provider selling offers does
# not (its running time is priced by each account's entitlement).

QUERY_TIERS = [{"up_to": "1000000", "unit_price": "0"},
               {"up_to": "100000000", "unit_price": "0.0000004"},
               {"up_to": None, "unit_price": "0.0000002"}]
DATUM_OFFERS = [
    ("free", "Free", True, OfferContent(
        services=["dns"],
        charges=[{"model": "per_unit", "name": "DNS queries", "metric": "dns.queries",
                  "unit_price": "0"}],
        features=[{"feature": "dns.zones", "limit": "1"}],
    )),
    ("pro", "Pro", True, OfferContent(
        services=["dns", "compute"],
        charges=[
            {"model": "graduated", "name": "DNS queries", "metric": "dns.queries",
             "tiers": QUERY_TIERS},
            {"model": "package", "name": "Hosted zones", "metric": "dns.zones-hosted",
             "package_size": "10", "amount": "5", "free_units": "10"},
            {"model": "recurring", "name": "Pro plan", "amount": "30.00", "service": "dns"},
            {"model": "one_time", "name": "Onboarding", "amount": "49.00"},
        ],
        features=[{"feature": "dns.zones", "limit": "25"}, {"feature": "dns.dnssec"},
                  {"feature": "compute.vcpus", "limit": "16"}],
        duration_prices=[{"metric": "instance", "variant": "2cpu-8gb", "rate": "0.03",
                          "time_unit": "hour"},
                         {"metric": "instance", "variant": "4cpu-16gb", "rate": "0.06",
                          "time_unit": "hour"}],
    )),
    ("enterprise", "Enterprise", False, OfferContent(
        services=["dns", "compute"],
        charges=[
            {"model": "volume", "name": "DNS queries", "metric": "dns.queries",
             "tiers": QUERY_TIERS},
            {"model": "recurring", "name": "Enterprise plan", "amount": "500.00"},
        ],
        features=[{"feature": "dns.zones", "limit": "1000"}, {"feature": "dns.dnssec"},
                  {"feature": "compute.vcpus", "limit": "512"}],
        duration_prices=[{"metric": "instance", "rate": "0.04", "time_unit": "hour"}],
    )),
]
# (organization, offer, daily DNS queries, zones, instances)
DATUM_CONSUMERS = [
    ("hobbyist", "free", 20_000, 1, 0),
    ("startup", "pro", 4_000_000, 18, 2),
    ("bigcorp", "enterprise", 90_000_000, 400, 6),
]


def demo_consumer_load(*, now: datetime) -> DemoLoaded | None:
    """Load the Datum-like demo once (a provider that sells offers); None when loaded."""
    if Organization.objects.filter(name="startup").exists():
        return None
    history = _last_month_start(now)
    _bill_from(history)
    operator = _fleet_admin()
    _datum_catalog_create(operator=operator, history=history)
    consumer = _consumer_user()
    lifecycle = _Events()
    usage: list[dict] = []
    accepted = history + 3 * DAY
    for name, offer, queries, zones, instances in DATUM_CONSUMERS:
        project = _datum_consumer_create(name=name, offer=offer, accepted=accepted,
                                         operator=operator, consumer=consumer,
                                         history=history)
        # A day of usage before the offer was accepted: kept and shown as unentitled.
        usage += _datum_daily_usage(name=name, project=project.name, queries=queries,
                                    zones=zones, since=history + DAY,
                                    until=now - timedelta(hours=1))
        for i in range(instances):
            lifecycle.resource(f"{name}-vm-{i}", "instance",
                               "4cpu-16gb" if i % 2 else "2cpu-8gb", project.name, "us-east",
                               at=accepted + timedelta(hours=i),
                               creator=datum_creator(name=name, project=project, index=i,
                                                      operator=operator, consumer=consumer))
    past = _happened(lifecycle.items, now=now)
    finalized = _ingest_and_bill(lifecycle=past, usage=usage, history=history, now=now)
    return DemoLoaded(
        organizations=len(DATUM_CONSUMERS), projects=len(DATUM_CONSUMERS),
        events=len(past) + len(usage), invoices_finalized=finalized,
    )


def _datum_catalog_create(*, operator, history: datetime) -> None:
    """Datum's services, features, metrics, instance type, region and offers."""
    service_create(key="dns", name="DNS", description="Authoritative DNS")
    service_create(key="compute", name="Compute", description="Virtual machines")
    feature_create(service_key="dns", key="dns.zones", name="DNS zones", kind="quota",
                   default_limit=Decimal(3), unit="zone")
    feature_create(service_key="dns", key="dns.dnssec", name="DNSSEC", kind="flag")
    feature_create(service_key="compute", key="compute.vcpus", name="vCPUs", kind="quota",
                   default_limit=Decimal(4), scope="project", unit="vCPU")
    metric_create(key="dns.queries", name="DNS queries", aggregation="sum",
                  service_key="dns", unit="query")
    metric_create(key="dns.zones-hosted", name="Hosted zones", aggregation="unique_count",
                  service_key="dns", unique_attribute="zone", unit="zone")
    resource_type_create(key="instance", name="Instance", unit="instance",
                         variants=[("2cpu-8gb", "2 CPU, 8 GB Memory"),
                                   ("4cpu-16gb", "4 CPU, 16 GB Memory")])
    metric_service_set(metric_key="instance", service_key="compute")
    region_create(key="us-east", name="US East")
    for key, name, public, content in DATUM_OFFERS:
        offer_create(key=key, name=name, public=public, content=content, now=history,
                     actor=operator)


def _datum_consumer_create(*, name: str, offer: str, accepted: datetime, operator, consumer,
                           history: datetime) -> Project:
    """One consumer organization with a card-paying account that accepted `offer`, and
    its web project; the consumer login administers "startup"."""
    org = organization_create(name=name, display_name=name.title(), actor=operator,
                              now=history, billing_account_name=None)
    account = billing_account_create(organization=org, name="Main",
                                     payment_kind=PaymentKind.CARD,
                                     contacts=[f"billing@{name}.example"], actor=operator,
                                     now=history)
    project = project_create(name=f"{name}-web", organization=org, actor=operator,
                             now=history)
    entitlement_accept(billing_account=account, offer_key=offer, now=accepted,
                       actor=operator, allow_private=True)
    if consumer is not None and name == "startup":
        role_grant(user=consumer, role=Role.ORG_ADMIN, organization=org,
                   granted_by=operator, access=access_for(operator))
    return project


def _datum_daily_usage(*, name: str, project: str, queries: int, zones: int,
                       since: datetime, until: datetime) -> list[dict]:
    """A usage item per day from `since` while before `until`: the day's DNS queries and
    one hosted-zone item per zone."""
    usage: list[dict] = []
    t = since
    while t < until:
        usage.append({"event_id": f"{name}-q-{t:%Y%m%d}", "metric": "dns.queries",
                      "project": project, "occurred_at": t.isoformat(),
                      "value": str(queries)})
        for zone in range(zones):
            usage.append({"event_id": f"{name}-z{zone}-{t:%Y%m%d}",
                          "metric": "dns.zones-hosted", "project": project,
                          "occurred_at": t.isoformat(), "value": "1",
                          "attributes": {"zone": f"zone-{zone}.{name}.example"}})
        t += DAY
    return usage
