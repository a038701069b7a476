"""Reads of the provider registry."""

from django.db import connection
from django.db.models import QuerySet
from django_tenants.utils import get_public_schema_name

from tenancy.models import Provider


def provider_list_all() -> QuerySet[Provider]:
    """Every provider with a schema, archived ones included (migrations reach them all)."""
    return Provider.objects.exclude(schema_name=get_public_schema_name()).order_by("slug")


def provider_list_active() -> QuerySet[Provider]:
    """The providers beat and the batch commands work for: archived ones are left alone."""
    return provider_list_all().filter(archived_at__isnull=True)


def provider_get_by_slug(*, slug: str) -> Provider | None:
    return Provider.objects.filter(slug=slug).first()


def provider_current() -> Provider:
    """The provider whose schema the connection is in (request, task or command)."""
    tenant = getattr(connection, "tenant", None)
    if tenant is None or connection.schema_name == get_public_schema_name():
        raise RuntimeError("no provider is active on this connection")
    return tenant
