"""Consumer fixtures: a Datum-like catalog (DNS and compute), offers, a provider that
sells offers, accounts, and a clock."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import BillingAccount, Organization, Project
from catalog.models import Offer
from catalog.services.features import feature_create, service_create
from catalog.services.metrics import metric_create, metric_service_set
from catalog.services.offers import OfferContent, offer_create
from catalog.services.resource_types import region_create, resource_type_create
from cycles.models import BillingCycle
from tenancy.middleware import provider_cache_clear
from tenancy.models import BillingMode, Provider
from tests.factories import make_org, make_project

T0 = datetime(2026, 1, 1, tzinfo=UTC)

TIERS = [{"up_to": "1000000", "unit_price": "0"},
         {"up_to": None, "unit_price": "0.0000004"}]


@dataclass
class Datum:
    free: Offer
    pro: Offer
    enterprise: Offer


def datum_catalog(*, now: datetime = T0) -> Datum:
    """DNS and compute services with features, metrics and Free / Pro / Enterprise offers."""
    service_create(key="dns", name="DNS")
    service_create(key="compute", name="Compute")
    feature_create(service_key="dns", key="dns.zones", name="DNS zones", kind="quota",
                   default_limit=Decimal(3))
    feature_create(service_key="dns", key="dns.dnssec", name="DNSSEC", kind="flag")
    feature_create(service_key="compute", key="compute.vcpus", name="vCPUs", kind="quota",
                   default_limit=Decimal(4), scope="project")
    metric_create(key="dns.queries", name="DNS queries", aggregation="sum", service_key="dns",
                  unit="query")
    metric_create(key="dns.zones-hosted", name="Hosted zones", aggregation="unique_count",
                  service_key="dns", unique_attribute="zone", unit="zone")
    resource_type_create(key="instance", name="Instance", unit="instance",
                         variants=[("2cpu-8gb", "2 CPU, 8 GB Memory")])
    metric_service_set(metric_key="instance", service_key="compute")
    region_create(key="mars", name="Mars")
    free = offer_create(key="free", name="Free", now=now, content=OfferContent(
        services=["dns"],
        charges=[{"model": "per_unit", "name": "DNS queries", "metric": "dns.queries",
                  "unit_price": "0", "free_units": "0"}],
        features=[{"feature": "dns.zones", "limit": "1"}],
    )).offer
    pro = offer_create(key="pro", name="Pro", now=now, content=OfferContent(
        services=["dns", "compute"],
        charges=[
            {"model": "graduated", "name": "DNS queries", "metric": "dns.queries",
             "tiers": TIERS},
            {"model": "package", "name": "Hosted zones", "metric": "dns.zones-hosted",
             "package_size": "10", "amount": "5", "free_units": "10"},
            {"model": "recurring", "name": "Pro plan", "amount": "30.00", "service": "dns"},
            {"model": "one_time", "name": "Onboarding", "amount": "49.00"},
        ],
        features=[{"feature": "dns.zones", "limit": "25"}, {"feature": "dns.dnssec"},
                  {"feature": "compute.vcpus", "limit": "16"}],
        duration_prices=[{"metric": "instance", "rate": "0.01", "time_unit": "hour"}],
    )).offer
    enterprise = offer_create(key="enterprise", name="Enterprise", public=False, now=now,
                              content=OfferContent(
        services=["dns", "compute"],
        charges=[{"model": "volume", "name": "DNS queries", "metric": "dns.queries",
                  "tiers": TIERS},
                 {"model": "recurring", "name": "Enterprise plan", "amount": "500.00"}],
        features=[{"feature": "dns.zones"}, {"feature": "dns.dnssec"},
                  {"feature": "compute.vcpus", "limit": "256"}],
    )).offer
    return Datum(free=free, pro=pro, enterprise=enterprise)


def sells_offers(provider: Provider, *, timezone: str | None = None) -> Provider:
    """Switch the provider to offers mode (and another billing zone) for this test only:
    the row changes inside the test's transaction, the instance for `inside`."""
    fields = {"billing_mode": BillingMode.OFFERS}
    if timezone:
        fields["billing_timezone"] = timezone
    Provider.objects.filter(pk=provider.pk).update(**fields)
    provider_cache_clear()  # .update() sends no signal; a save in the admin would clear it
    for name, value in fields.items():
        setattr(provider, name, value)
    return provider


@dataclass
class Consumer:
    org: Organization
    account: BillingAccount
    project: Project


def make_consumer(name: str = "acme") -> Consumer:
    org = make_org(name)
    project = make_project(f"{name}-web", org)
    return Consumer(org=org, account=org.billing_accounts.get(), project=project)


@pytest.fixture
def no_cycles(alpha, beta):
    from tests.conftest import inside

    for provider in (alpha, beta):
        with inside(provider):
            BillingCycle.objects.all().delete()
