"""Small builders for test data, written straight to the ORM of the current schema.

Use them inside `inside(provider)`. They make the minimum a test needs and
return the model instances.
"""

from datetime import UTC, datetime
from decimal import Decimal

from accounts.models import BillingAccount, Organization, Project, ProjectAccountAssignment
from catalog.models import Aggregation, Metric, Price, PriceList, PriceListKind, Region, Variant

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def make_org(name: str = "mars-corp", *, account: str = "Main") -> Organization:
    org = Organization.objects.create(name=name, display_name=name.replace("-", " ").title())
    BillingAccount.objects.create(organization=org, name=account, is_default=True)
    return org


def make_project(name: str, org: Organization, *, account: BillingAccount | None = None,
                 since: datetime = EPOCH) -> Project:
    project = Project.objects.create(name=name, organization=org)
    account = account or org.billing_accounts.get(is_default=True)
    ProjectAccountAssignment.objects.create(project=project, billing_account=account,
                                            valid_from=since)
    return project


def make_resource_type(key: str, name: str, variants: dict[str, str]) -> Metric:
    metric = Metric.objects.create(key=key, name=name, aggregation=Aggregation.DURATION,
                                   unit=key)
    for variant_key, description in variants.items():
        Variant.objects.create(metric=metric, key=variant_key, description=description)
    return metric


def make_region(key: str = "mars", name: str = "Mars") -> Region:
    return Region.objects.create(key=key, name=name)


def list_prices() -> PriceList:
    price_list, _ = PriceList.objects.get_or_create(
        key="list", defaults={"name": "List prices", "kind": PriceListKind.LIST}
    )
    return price_list


def make_price(metric: Metric, rate: str, time_unit: str, *, variant: str = "", region: str = "",
               service_class: str = "", valid_from: datetime = EPOCH,
               valid_to: datetime | None = None) -> Price:
    return Price.objects.create(
        price_list=list_prices(), metric=metric, variant=variant, region=region,
        service_class=service_class, rate=Decimal(rate), time_unit=time_unit,
        valid_from=valid_from, valid_to=valid_to,
    )


def make_usage_event(**fields):
    """A usage event stored around ingestion, as a script would: its id claimed
    first, as the database requires of every writer (metering migration 0005)."""
    from django.db import connection

    from metering.models import UsageEvent

    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {UsageEvent._meta.db_table}_ids (event_id) VALUES (%s)",
                       [fields["event_id"]])
    return UsageEvent.objects.create(**fields)


def make_cycle(start: datetime, end: datetime, label: str, status: str = "open", **fields):
    """The cycle `label` with these bounds and status: made, or (when a dated write
    already made it, cycles.services.cycles_ensure_for) updated to the status."""
    from cycles.models import BillingCycle  # noqa: PLC0415 - tests' own helper, kept lazy

    cycle, _ = BillingCycle.objects.update_or_create(
        label=label, defaults={"start": start, "end": end, "status": status, **fields})
    return cycle
