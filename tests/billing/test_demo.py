"""The demo the README's first command loads: real data on every endpoint."""

from datetime import UTC, datetime
from decimal import Decimal

from django.core.management import call_command

from cycles.models import BillingCycle, CycleStatus
from invoicing.models import Invoice, InvoiceStatus
from tenancy.models import Provider
from tests.conftest import host_client, inside, sign_in


def test_the_demo_loads_once_with_last_months_invoices_and_this_months_drafts(db, capsys):
    call_command("tally_demo")
    first = capsys.readouterr().out
    call_command("tally_demo")
    second = capsys.readouterr().out

    assert "loaded demo data" in first and "finalized invoices for last month" in first
    assert "demo data already loaded" in second
    demo = Provider.objects.get(slug="demo")
    with inside(demo):
        closed = BillingCycle.objects.filter(status=CycleStatus.CLOSED).get()
        finalized = Invoice.objects.filter(cycle=closed, status=InvoiceStatus.FINALIZED)
        assert finalized.count() == 3  # mars-corp Main, mars-corp Research, venus-labs Main
        assert sorted(finalized.values_list("sequence", flat=True)) == [1, 2, 3]
        adventure = next(
            line for invoice in finalized for line in invoice.lines.all()
            if line.project_name == "adventure" and line.metric_key == "instance"
        )
        assert adventure.resource_count == 15
        current = BillingCycle.objects.get(start__lte=datetime.now(UTC), end__gt=datetime.now(UTC))
        assert Invoice.objects.filter(cycle=current, status=InvoiceStatus.DRAFT).exists()

    client = host_client(demo)
    assert sign_in(client, "operator", "operator-demo")
    summary = client.get("/api/v1/projects/adventure/billing")
    assert summary.status_code == 200
    assert summary.json()["total"] != "0.00"
    assert client.get("/api/v1/system/billing").status_code == 200
    # Spend per user shows the people who created the demo's resources (seed 002), and
    # their rows with the unattributed one add up to the total.
    spend = client.get("/api/v1/billing/spend-by-user").json()
    users = {row["user"]: Decimal(row["amount"]) for row in spend["users"]}
    assert {"ada", "grace", "katherine", "hedy", "consumer"} <= set(users)
    assert sum(users.values()) + Decimal(spend["not_attributed"]["amount"]) == Decimal(
        spend["total"])
