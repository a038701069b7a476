"""Catalog fixtures: alpha's resource types and regions, users with roles, a fixed clock."""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.api_keys import api_key_issue
from accounts.models import Role, RoleGrant
from catalog.models import Metric, Region
from cycles.models import BillingCycle, CycleStatus
from tests.conftest import PASSWORD, host_client, inside
from tests.factories import make_org, make_project, make_region, make_resource_type

User = get_user_model()

# 23 November 2026, 12:00 UTC: 24 November 01:00 in Auckland (NZDT, UTC+13).
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# Alpha's November (Pacific/Auckland) and beta's (UTC).
ALPHA_NOV_START = datetime(2026, 10, 31, 11, 0, tzinfo=UTC)
ALPHA_DEC_START = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
ALPHA_OCT_START = datetime(2026, 9, 30, 11, 0, tzinfo=UTC)
BETA_NOV_START = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Catalog:
    instance: Metric
    disk: Metric
    mars: Region
    venus: Region


def seed_catalog() -> Catalog:
    """Two resource types with variants and two regions, in the current schema."""
    instance = make_resource_type(
        "instance", "Instance",
        {"4cpu-16gb": "4 CPU, 16 GB Memory", "8cpu-32gb": "8 CPU, 32 GB Memory"},
    )
    disk = make_resource_type("disk", "Disk", {"500gb": "500 GB"})
    return Catalog(instance=instance, disk=disk, mars=make_region("mars", "Mars"),
                   venus=make_region("venus", "Venus"))


@pytest.fixture
def alpha_catalog(alpha) -> Catalog:
    with inside(alpha):
        BillingCycle.objects.all().delete()
        return seed_catalog()


@pytest.fixture
def beta_catalog(beta) -> Catalog:
    with inside(beta):
        BillingCycle.objects.all().delete()
        return seed_catalog()


@pytest.fixture
def frozen_now(monkeypatch):
    """`timezone.now()` answers NOW everywhere (views read the clock at the edge)."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


def close_cycle(start: datetime, end: datetime, label: str) -> BillingCycle:
    """A finalized cycle (in the current schema): nothing before its end may change."""
    return BillingCycle.objects.create(start=start, end=end, label=label,
                                       status=CycleStatus.CLOSED, closed_at=end)


def user_with_role(provider, username: str, role: str | None = None, *, staff: bool = False):
    """A user of `provider` holding `role` (org and project roles get a scope made up)."""
    with inside(provider):
        user = User.objects.create_user(username=username, password=PASSWORD, is_staff=staff)
        if role in (Role.ORG_ADMIN, Role.ORG_BILLING_VIEWER):
            RoleGrant.objects.create(user=user, role=role, organization=make_org(f"{username}-org"))
        elif role == Role.PROJECT_BILLING_VIEWER:
            project = make_project(f"{username}-project", make_org(f"{username}-org"))
            RoleGrant.objects.create(user=user, role=role, project=project)
        elif role is not None:
            RoleGrant.objects.create(user=user, role=role)
    return user


def api_client(provider, username: str):
    """An HTTP client on the provider's host, authenticated by a new API key of `username`."""
    with inside(provider):
        secret = api_key_issue(username=username, name="tests").secret
    client = host_client(provider)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


@contextmanager
def real_queries(*, at_most: int):
    """Count queries, leaving out the `SET search_path` django-tenants issues around them."""
    with CaptureQueriesContext(connection) as captured:
        yield captured
    sqls = [q["sql"] for q in captured.captured_queries
            if not q["sql"].startswith("SET search_path")]
    assert len(sqls) <= at_most, "\n\n".join(sqls)
