"""Gapless invoice numbers under concurrent finalization, on committed data."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django_tenants.utils import tenant_context

from accounts.models import BillingAccount, Organization
from accounts.onboarding import provider_onboard
from invoicing.closing import invoice_finalize
from invoicing.models import Invoice, InvoiceStatus
from tenancy.models import Provider
from tests.invoicing.builders import NOV_START, OCT_START, make_cycle


@pytest.fixture
def committed_provider(django_db_setup, django_db_blocker):
    """A provider of its own whose rows are committed (threads have their own
    connections), dropped with its schema afterwards."""
    with django_db_blocker.unblock():
        provider = provider_onboard(name="Numbers", slug="numbers", admin_username="n").provider
        yield provider
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute('DROP SCHEMA "numbers" CASCADE')
        Provider.objects.filter(pk=provider.pk).delete()


def _drafts(provider, count: int) -> list[int]:
    with tenant_context(provider):
        cycle = make_cycle(OCT_START, NOV_START, "2020-10")
        org = Organization.objects.create(name="many", display_name="Many")
        ids = []
        for i in range(count):
            account = BillingAccount.objects.create(organization=org, name=f"A{i:03d}",
                                                    is_default=(i == 0))
            ids.append(Invoice.objects.create(billing_account=account, cycle=cycle,
                                              currency="USD").pk)
        return ids


def test_concurrent_finalization_numbers_without_gaps_or_duplicates(committed_provider):
    ids = _drafts(committed_provider, 40)
    errors: list[BaseException] = []

    def finalize(chunk):
        try:
            with tenant_context(committed_provider):
                for invoice_id in chunk:
                    invoice_finalize(invoice_id=invoice_id, now=NOV_START)
                    # A second worker racing on the same invoice must do nothing.
                    invoice_finalize(invoice_id=invoice_id, now=NOV_START + timedelta(1))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connections.close_all()

    # Interleaved chunks, and every invoice offered to two threads.
    threads = [threading.Thread(target=finalize, args=(ids[i::4],)) for i in range(4)]
    threads += [threading.Thread(target=finalize, args=(list(reversed(ids)),))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    with tenant_context(committed_provider):
        sequences = sorted(Invoice.objects.filter(status=InvoiceStatus.FINALIZED)
                           .values_list("sequence", flat=True))
        assert sequences == list(range(1, 41))
        assert Invoice.objects.filter(issued_at=NOV_START).count() == 40


def test_a_rolled_back_finalization_gives_its_number_back(committed_provider, monkeypatch):
    first, second = _drafts(committed_provider, 2)
    original_save = Invoice.save

    def failing_save(self, *args, **kwargs):
        if self.pk == first:
            raise RuntimeError("PDF service down in the middle of finalizing")
        return original_save(self, *args, **kwargs)

    with tenant_context(committed_provider):
        monkeypatch.setattr(Invoice, "save", failing_save)
        with pytest.raises(RuntimeError):
            invoice_finalize(invoice_id=first, now=NOV_START)
        monkeypatch.setattr(Invoice, "save", original_save)
        invoice_finalize(invoice_id=second, now=NOV_START)
        invoice_finalize(invoice_id=first, now=NOV_START)
        numbers = dict(Invoice.objects.values_list("pk", "sequence"))
    assert numbers == {second: 1, first: 2}
