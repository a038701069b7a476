"""`manage.py provider_backup` and `provider_restore`: a provider backed up, deleted (its
schema dropped, its files removed), and restored from the file into a fresh schema has
the same invoices, the same numbers, the same PDFs byte for byte, and goes on numbering
where it stopped."""

import hashlib
import tarfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from cycles.models import BillingCycle
from invoicing.closing import cycle_close
from invoicing.models import Invoice, InvoiceDelivery
from tenancy.lifecycle import provider_archive, provider_delete
from tenancy.models import Provider
from tests.conftest import host_client, sign_in
from tests.invoicing.builders import at
from tests.tenancy.committed import committed, provider_drop, provider_with_history

SLUG = "omega"


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def omega(django_db_setup, django_db_blocker, media):
    with committed(django_db_blocker):
        provider = provider_with_history(SLUG, "Omega Cloud")
    yield provider
    with committed(django_db_blocker):
        provider_drop(SLUG)


def _billed(provider: Provider, media: Path) -> dict:
    """Every invoice as a person and a machine see it: number, status, totals, lines, and
    the sha256 of its PDF."""
    with tenant_context(provider):
        invoices = {}
        for invoice in Invoice.objects.order_by("cycle__start", "billing_account__name"):
            delivery = InvoiceDelivery.objects.filter(invoice=invoice).first()
            pdf = media / delivery.pdf_path if delivery and delivery.pdf_path else None
            invoices[(invoice.cycle.label, invoice.billing_account.organization.name)] = {
                "number": invoice.number, "status": invoice.status, "total": invoice.total,
                "lines": sorted((line.description, line.quantity, line.amount)
                                for line in invoice.lines.all()),
                "pdf": hashlib.sha256(pdf.read_bytes()).hexdigest() if pdf else None,
            }
    connection.set_schema_to_public()
    return invoices


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def test_a_provider_backed_up_deleted_and_restored_bills_the_same(omega, media, tmp_path,
                                                                   django_db_blocker):
    file = tmp_path / "omega.tar.gz"
    with committed(django_db_blocker):
        before = _billed(omega, media)
        numbers = sorted(v["number"] for v in before.values() if v["number"])
        assert numbers == ["OMEGA-000001", "OMEGA-000002", "OMEGA-000003", "OMEGA-000004"]
        assert all(v["pdf"] for v in before.values() if v["number"])

        out = StringIO()
        call_command("provider_backup", SLUG, str(file), stdout=out)
        assert file.is_file() and "4 file(s)" in out.getvalue()
        assert "http://omega.localhost:8000/admin/" in out.getvalue()

        provider_archive(provider=omega, now=timezone.now())
        provider_delete(provider=Provider.objects.get(slug=SLUG), confirmation=SLUG)
        assert not _schema_exists("omega") and not (media / "omega").exists()
        assert host_client(None).get("/", HTTP_HOST="omega.localhost").status_code == 404

        out = StringIO()
        call_command("provider_restore", str(file), stdout=out)
        assert "Restored omega (Omega Cloud) from" in out.getvalue()
        assert "http://omega.localhost:8000/admin/" in out.getvalue()
        restored = Provider.objects.get(slug=SLUG)
        assert restored.archived_at is None  # as it was when backed up: in service
        assert _billed(restored, media) == before

        # Its people are back: the fleet admin signs in on its host and reads an invoice.
        client = host_client(restored)
        assert sign_in(client, "oscar")
        assert client.get("/admin/invoicing/invoice/").status_code == 200

        # Numbering goes on where it stopped (the counter row came back with the rest).
        with tenant_context(restored):
            november = BillingCycle.objects.get(label="2020-11")
            cycle_close(cycle=november, now=at(2020, 12, 1))
            assert sorted(Invoice.objects.filter(cycle=november)
                          .values_list("number", flat=True)) == ["OMEGA-000005", "OMEGA-000006"]


def test_restore_refuses_a_provider_that_is_still_here(omega, tmp_path, django_db_blocker):
    file = tmp_path / "omega.tar.gz"
    with committed(django_db_blocker):
        call_command("provider_backup", SLUG, str(file), stdout=StringIO())
        with pytest.raises(CommandError, match="a provider with slug 'omega' exists here"):
            call_command("provider_restore", str(file))
        with pytest.raises(CommandError, match="is not a Tally provider backup"):
            bogus = tmp_path / "bogus.tar.gz"
            with tarfile.open(bogus, "w:gz"):
                pass
            call_command("provider_restore", str(bogus))
