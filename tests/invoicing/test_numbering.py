"""Gapless invoice numbers under concurrent finalization, on committed data."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django_tenants.utils import tenant_context

from accounts.models import BillingAccount, Organization
from accounts.onboarding import provider_onboard
from cycles.models import BillingCycle, CycleStatus
from invoicing import closing
from invoicing.closing import cycle_close, invoice_finalize
from invoicing.models import Invoice, InvoiceCounter, InvoiceDelivery, InvoiceStatus
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


def test_twenty_concurrent_closers_of_one_cycle_number_each_invoice_once(committed_provider):
    ids = _drafts(committed_provider, 120)
    # One invoice finalized by hand first: the closers continue its numbers.
    with tenant_context(committed_provider):
        invoice_finalize(invoice_id=ids[57], now=NOV_START)
    results, errors = [], []
    start = threading.Barrier(20)

    def close():
        try:
            with tenant_context(committed_provider):
                start.wait(30)
                cycle = BillingCycle.objects.get(label="2020-10")
                # Small batches, so the closers interleave batch by batch.
                results.append(cycle_close(cycle=cycle, now=NOV_START + timedelta(days=10),
                                           batch_size=7))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=close) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    assert len(results) == 20 and all(result.closed for result in results)
    assert sum(result.finalized for result in results) == 119
    with tenant_context(committed_provider):
        finalized = Invoice.objects.filter(status=InvoiceStatus.FINALIZED)
        assert sorted(finalized.values_list("sequence", flat=True)) == list(range(1, 121))
        assert sorted(finalized.values_list("number", flat=True)) == [
            f"NUMBERS-{n:06d}" for n in range(1, 121)]
        assert Invoice.objects.count() == 120
        assert InvoiceCounter.objects.get(name="invoices").last_sequence == 120
        # The batch's invoices are numbered in billing-account order.
        by_account = list(finalized.exclude(pk=ids[57]).order_by("billing_account_id")
                          .values_list("sequence", flat=True))
        assert by_account == sorted(by_account)
        assert sorted(InvoiceDelivery.objects.values_list("invoice_id", flat=True)) == sorted(ids)
        assert finalized.filter(account_name="", organization_name="").count() == 0
        assert BillingCycle.objects.get(label="2020-10").status == CycleStatus.CLOSED


def test_a_batch_that_fails_takes_its_numbers_back_and_a_rerun_finishes(committed_provider,
                                                                        monkeypatch):
    ids = _drafts(committed_provider, 30)
    calls = []

    def failing_after_numbering(*, invoice_ids):
        calls.append(invoice_ids)
        if len(calls) == 2:
            raise RuntimeError("killed in the middle of the second batch")
        return original(invoice_ids=invoice_ids)

    original = closing.deliveries_start_after_commit
    monkeypatch.setattr(closing, "deliveries_start_after_commit", failing_after_numbering)
    with tenant_context(committed_provider):
        cycle = BillingCycle.objects.get(label="2020-10")
        with pytest.raises(RuntimeError):
            cycle_close(cycle=cycle, now=NOV_START + timedelta(days=10), batch_size=10)
        assert Invoice.objects.filter(status=InvoiceStatus.FINALIZED).count() == 10
        assert InvoiceCounter.objects.get(name="invoices").last_sequence == 10

        cycle.refresh_from_db()
        again = cycle_close(cycle=cycle, now=NOV_START + timedelta(days=10), batch_size=10)
        assert again.finalized == 20 and again.closed
        sequences = dict(Invoice.objects.values_list("pk", "sequence"))
    # Numbers 1..30, in billing-account (here: creation) order, none skipped.
    assert [sequences[pk] for pk in ids] == list(range(1, 31))
