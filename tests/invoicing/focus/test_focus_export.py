"""The FOCUS 1.0 export of both demo providers: valid by the official focus-validator, and
its BilledCost adds up to the month's invoices to the cent, by API (CSV and Parquet) and
in the monthly file beat writes beside the PDFs."""

import csv
import io
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from cycles.models import BillingCycle, CycleStatus
from invoicing.focus import COLUMNS
from invoicing.focus_files import PARQUET_MEDIA_TYPE, focus_monthly_files_write
from invoicing.models import Invoice, InvoiceStatus
from tenancy.models import Provider
from tests.conftest import host_client, inside, sign_in

DEMO_PROVIDERS = ("demo", "datum")


def _invoiced(cycle: BillingCycle) -> Decimal:
    return sum((i.total for i in Invoice.objects.filter(cycle=cycle).exclude(
        status=InvoiceStatus.VOID)), Decimal(0))


def _csv_rows(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode())))


@pytest.fixture
def demo_loaded(db, own_media):
    call_command("tally_demo")
    return {slug: Provider.objects.get(slug=slug) for slug in DEMO_PROVIDERS}


def test_both_demo_providers_export_valid_focus_adding_up_to_their_invoices(
        demo_loaded, focus_validate, tmp_path, own_media):
    for slug, provider in demo_loaded.items():
        client = host_client(provider)
        assert sign_in(client, "operator", "operator-demo")
        with inside(provider):
            cycles = list(BillingCycle.objects.filter(invoices__isnull=False).distinct())
            finalized = [c for c in cycles if c.status == CycleStatus.CLOSED]
            assert finalized, f"{slug}: the demo finalizes last month"
            for cycle in cycles:
                invoiced = _invoiced(cycle)
                response = client.get(f"/api/v1/exports/focus?period={cycle.label}",
                                      HTTP_ACCEPT="text/csv")
                assert response.status_code == 200, response.content[:500]
                assert response["Content-Type"] == "text/csv"
                rows = _csv_rows(response.content)
                assert list(rows[0]) == list(COLUMNS)
                billed = sum(Decimal(r["BilledCost"]) for r in rows)
                assert billed == invoiced != 0, (slug, cycle.label)
                assert {r["BillingPeriodStart"] for r in rows} == {
                    cycle.start.strftime("%Y-%m-%dT%H:%M:%SZ")}

                path = tmp_path / f"{slug}-{cycle.label}.csv"
                path.write_bytes(response.content)
                report = focus_validate(path)
                assert report["checks"] > 100
                assert report["problems"] == [], report

                parquet = client.get(f"/api/v1/exports/focus?period={cycle.label}",
                                     HTTP_ACCEPT=PARQUET_MEDIA_TYPE)
                assert parquet.status_code == 200
                assert parquet["Content-Type"] == PARQUET_MEDIA_TYPE
                table = pq.read_table(io.BytesIO(parquet.content))
                assert table.column_names == list(COLUMNS)
                assert sum(table.column("BilledCost").to_pylist()) == invoiced

    _datum_rows_are_one_per_charge_with_categories_and_projects(demo_loaded["datum"])
    _monthly_files_are_written_once_beside_the_pdfs(demo_loaded["demo"], own_media)


def test_focus_export_refusals(alpha):
    client = host_client(alpha)
    assert sign_in(client, "alice")
    bad = client.get("/api/v1/exports/focus?period=2026-13")
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["period"]
    assert client.get("/api/v1/exports/focus?period=1999-01").status_code == 404
    refused = client.get("/api/v1/exports/focus", HTTP_ACCEPT="application/xml")
    assert refused.status_code == 406
    assert refused["Content-Type"] == "application/json"
    assert refused.json()["error"]["status"] == 406
    anonymous = host_client(alpha).get("/api/v1/exports/focus")
    assert anonymous.status_code in (401, 403)


def _datum_rows_are_one_per_charge_with_categories_and_projects(datum):
    client = host_client(datum)
    assert sign_in(client, "operator", "operator-demo")
    with inside(datum):
        cycle = BillingCycle.objects.filter(status=CycleStatus.CLOSED).get()
        lines = sum(i.lines.count() for i in Invoice.objects.filter(cycle=cycle))
    rows = _csv_rows(client.get(f"/api/v1/exports/focus?period={cycle.label}&format=csv")
                     .content)
    assert len(rows) == lines
    assert {"Usage", "Purchase"} <= {r["ChargeCategory"] for r in rows}
    usage = [r for r in rows if r["ChargeCategory"] == "Usage"]
    assert all(r["ConsumedQuantity"] and r["SubAccountId"] for r in usage)
    assert all(r["ChargeFrequency"] == "Usage-Based" for r in usage)
    purchases = [r for r in rows if r["ChargeCategory"] == "Purchase"]
    assert all(r["ConsumedQuantity"] == "" for r in purchases)


def _monthly_files_are_written_once_beside_the_pdfs(demo, own_media):
    client = host_client(demo)
    assert sign_in(client, "operator", "operator-demo")
    with inside(demo):
        cycle = BillingCycle.objects.filter(status=CycleStatus.CLOSED).get()
        written = focus_monthly_files_write()
        assert sorted(written) == [f"demo/focus/focus-{cycle.label}.csv",
                                   f"demo/focus/focus-{cycle.label}.parquet"]
        assert focus_monthly_files_write() == []
        invoiced = _invoiced(cycle)
    stored = (own_media / f"demo/focus/focus-{cycle.label}.csv").read_bytes()
    assert stored == client.get(f"/api/v1/exports/focus?period={cycle.label}").content
    assert sum(Decimal(r["BilledCost"]) for r in _csv_rows(stored)) == invoiced
