"""A small chargeback catalog in alpha: what the lifecycle tests ingest against."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from catalog.models import Aggregation, Metric
from tests.conftest import inside
from tests.factories import make_org, make_project, make_region, make_resource_type

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def fleet(alpha):
    """Inside alpha's schema for the whole test: projects, regions, resource types."""
    with inside(alpha):
        org = make_org("mars-corp")
        other_org = make_org("venus-corp")
        yield SimpleNamespace(
            provider=alpha,
            org=org,
            adventure=make_project("adventure", org),
            zeta=make_project("zeta", org),
            elsewhere=make_project("elsewhere", other_org),
            mars=make_region("mars", "Mars"),
            venus=make_region("venus", "Venus"),
            instance=make_resource_type(
                "instance", "Instance",
                {"4cpu-16gb": "4 CPU, 16 GB Memory", "8cpu-32gb": "8 CPU, 32 GB Memory"},
            ),
            disk=make_resource_type("disk", "Disk", {"500gb": "500 GB"}),
            requests=Metric.objects.create(key="requests", name="Requests",
                                           aggregation=Aggregation.SUM),
        )


def event(event_id: str, kind: str = "created", *, resource_id: str = "i-1",
          at: str = "2026-11-01T00:00:00Z", **fields) -> dict:
    """A well-formed lifecycle event of an instance in project adventure, region mars."""
    body = {
        "event_id": event_id,
        "resource_id": resource_id,
        "kind": kind,
        "resource_type": "instance",
        "variant": "4cpu-16gb",
        "project": "adventure",
        "region": "mars",
        "occurred_at": at,
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}
