""""Now" for the provider being served: the one source of the current instant.

Services never read the wall clock themselves; the edges (views, APIs, admin, tasks,
commands) ask `clock_now()` and pass the instant down. A live provider runs on real
time. A sandbox provider runs on its own clock (`SandboxClock`, in its schema), which
moves only when told to: read fresh from its row on every call, never from the
Provider instance the host lookup caches (tenancy/middleware.py), which may be seconds
old while the clock moves.

Real time stays where wall time is meant, and those places say so: API keys' last use,
worker leases, email and webhook transport retries, the audit of who moved a clock.
"""

from datetime import datetime

from django.db import connection
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from cycles.models import SandboxClock
from tenancy.models import Provider


def _sandbox_created_at() -> datetime | None:
    """When the current provider is a sandbox, its creation instant; None if it is live
    (or there is no provider: the public schema runs on real time)."""
    if connection.schema_name == get_public_schema_name():
        return None
    tenant = getattr(connection, "tenant", None)
    sandbox = getattr(tenant, "sandbox", None)
    if sandbox is None:
        # schema_context() sets a stand-in tenant without the provider's fields.
        row = (Provider.objects.filter(schema_name=connection.schema_name)
               .values_list("sandbox", "created_at").first())
        if row is None:
            return None
        sandbox, created_at = row
        return created_at if sandbox else None
    return tenant.created_at if sandbox else None


def provider_is_sandbox() -> bool:
    return _sandbox_created_at() is not None


def sandbox_clock_get() -> SandboxClock | None:
    """The current provider's clock; None for a live provider.

    A sandbox whose row was never written (made by `tenancy.services.provider_create`
    alone) reads as frozen at its creation, which is what its row would say.
    """
    created_at = _sandbox_created_at()
    if created_at is None:
        return None
    clock = SandboxClock.objects.filter(pk=1).first()
    return clock if clock is not None else SandboxClock(pk=1, frozen_time=created_at)


def clock_now() -> datetime:
    """The provider's current instant, timezone-aware UTC."""
    created_at = _sandbox_created_at()
    if created_at is None:
        return timezone.now()
    frozen = SandboxClock.objects.filter(pk=1).values_list("frozen_time", flat=True).first()
    return frozen if frozen is not None else created_at


def real_now() -> datetime:
    """Earth's clock, in a sandbox too: for what is not billing time. API keys expire and
    are used in real time, so a sandbox's frozen clock never keeps a revoked or expired
    key alive; mail and webhook transport (leases, backoff, the signature's timestamp
    a receiver checks against its own clock) and a rating run's `recorded_at`
    (compared with the audit log's times) are real time too."""
    return timezone.now()
