"""A provider whose data is committed (not rolled back per test): what a backup, pg_dump
and psql (other connections) can see, and what deleting a provider drops. Made and
removed by the fixture that uses it."""

from contextlib import contextmanager
from unittest import mock

from django.db import connection
from django_tenants.utils import tenant_context

from accounts.onboarding import provider_onboard
from cycles.services import billing_start_set
from invoicing.closing import cycle_close
from invoicing.delivery import invoice_pdf_render
from invoicing.models import Invoice
from invoicing.rating_run import rating_run
from tenancy.models import Domain, Provider
from tests.conftest import PASSWORD
from tests.factories import make_org, make_project
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    SEP_START,
    at,
    make_cycle,
    run_resource,
    seed_catalog,
    seed_prices,
)


def provider_drop(slug: str) -> None:
    connection.set_schema_to_public()
    provider = Provider.objects.filter(slug=slug).first()
    if provider is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{provider.schema_name}" CASCADE')
    Domain.objects.filter(tenant=provider).delete()
    Provider.objects.filter(pk=provider.pk).delete()


def provider_with_history(slug: str, name: str) -> Provider:
    """Two closed months (Sep and Oct 2020) of two organizations: finalized, numbered
    invoices with their PDFs rendered, and November open."""
    provider_drop(slug)
    provider = provider_onboard(slug=slug, name=name, admin_username="oscar",
                                admin_password=PASSWORD).provider
    # The fixture renders the PDFs itself: no delivery task may reach a worker.
    with tenant_context(provider), mock.patch("invoicing.delivery._queue_pipeline"), \
            mock.patch("invoicing.delivery.queue_after_commit"):
        billing_start_set(month="2020-09")
        instance, disk = seed_catalog()
        seed_prices(instance, disk, valid_from=SEP_START)
        for org_name, machines in (("mars-corp", 2), ("venus-labs", 1)):
            project = make_project(f"{org_name}-app", make_org(org_name), since=SEP_START)
            for i in range(machines):
                vm = run_resource(f"{org_name}-i{i}", instance, "4cpu-16gb", project,
                                  since=SEP_START)
                run_resource(f"{org_name}-d{i}", disk, "500gb", project, since=SEP_START,
                             parent=vm)
        for start, end, label in ((SEP_START, OCT_START, "2020-09"),
                                  (OCT_START, NOV_START, "2020-10")):
            cycle = make_cycle(start, end, label)
            rating_run(cycle=cycle, now=end)
            cycle_close(cycle=cycle, now=end)
        november = make_cycle(NOV_START, at(2020, 12, 1), "2020-11")
        rating_run(cycle=november, now=at(2020, 11, 15))
        for invoice in Invoice.objects.exclude(number__isnull=True):
            invoice_pdf_render(invoice_id=invoice.pk, now=at(2020, 12, 2))
    connection.set_schema_to_public()
    return Provider.objects.get(slug=slug)


@contextmanager
def committed(django_db_blocker):
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            connection.set_schema_to_public()
