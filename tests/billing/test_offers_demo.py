"""The Datum-like demo: a provider that sells offers, with consumers on each offer and a
month of usage, billed on the same engine."""

from django.core.management import call_command

from accounts.models import Entitlement
from cycles.models import BillingCycle, CycleStatus
from invoicing.models import Invoice, InvoiceStatus
from metering.selectors import unentitled_usage
from tenancy.models import Provider
from tests.accounts.support import Api
from tests.conftest import host_client, inside, sign_in


def test_the_datum_demo_has_consumers_on_each_offer_and_their_invoices(db, capsys):
    call_command("tally_demo")
    first = capsys.readouterr().out
    call_command("tally_demo")
    second = capsys.readouterr().out
    assert "loaded datum demo data: 3 consumers" in first
    assert "datum demo data already loaded" in second
    datum = Provider.objects.get(slug="datum")
    assert datum.billing_mode == "offers"
    with inside(datum):
        assert sorted(Entitlement.objects.values_list("offer_version__offer__key", flat=True)
                      ) == ["enterprise", "free", "pro"]
        closed = BillingCycle.objects.get(status=CycleStatus.CLOSED)
        finalized = Invoice.objects.filter(cycle=closed, status=InvoiceStatus.FINALIZED)
        kinds = {line.kind for invoice in finalized for line in invoice.lines.all()}
        assert kinds == {"usage", "one_time", "recurring"}
        startup = finalized.get(billing_account__organization__name="startup")
        assert startup.total > 0
        assert any(line.metric_key == "instance" for line in startup.lines.all())
        from core.periods import Period

        assert unentitled_usage(period=Period(start=closed.start, end=closed.end))
    client = host_client(datum)
    assert sign_in(client, "operator", "operator-demo")
    assert [o["key"] for o in client.get("/api/v1/offers").json()] == [
        "enterprise", "free", "pro"]
    consumer = Api(datum, "consumer")
    assert [o["key"] for o in consumer.get("/api/v1/offers").json()] == ["free", "pro"]
    with inside(datum):
        startup = Entitlement.objects.get(offer_version__offer__key="pro").billing_account_id
    upcoming = consumer.get(f"/api/v1/billing-accounts/{startup}/upcoming-invoice")
    assert upcoming.status_code == 200 and upcoming.json()["status"] == "draft"
    # The consumer created startup's instances: their lines are the consumer's spend.
    mine = consumer.get("/api/v1/billing/spend-by-user?organization=startup").json()
    assert [row["user"] for row in mine["users"]] == ["consumer"]
