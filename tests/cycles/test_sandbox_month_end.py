"""A month end rehearsed on a sandbox provider's test clock, as a consumer lives it.

Two accounts accept Pro on the 10th; one ends it on the 20th. The clock is moved past
the month end (nothing is final yet: the grace period runs), then past the grace: the
March invoices are finalized at end plus grace, numbered, rendered and emailed, with
the recurring charge prorated to the second, the one-time fee once and the usage with
its free units. The clock moves again: April starts with the free units reset and no
second one-time fee. Everything goes through the API, at the sandbox's time, never a
patched clock. Figures are exact.
"""

from datetime import timedelta
from decimal import Decimal

from pypdf import PdfReader

from accounts.organizations import billing_contact_add
from cycles.models import BillingCycle, CycleStatus
from invoicing.models import Invoice, InvoiceDelivery, StepStatus
from invoicing.pdf import pdf_absolute_path
from notifications.models import OutboxMessage
from tests.accounts.support import Api
from tests.conftest import inside
from tests.cycles.sandbox import advance, berlin, iso, make_sandbox
from tests.offers_world import datum_catalog, make_consumer

PRO_PLAN = ("recurring", "Pro plan (Pro v1)")
ONBOARDING = ("one_time", "Onboarding (Pro v1)")
QUERIES = ("usage", "DNS queries (Pro v1)")
ZONES = ("usage", "Hosted zones (Pro v1)")


def _usage(prefix: str, project: str, at, *, queries: int, zones: int) -> dict:
    events = [{"event_id": f"{prefix}-q", "metric": "dns.queries", "project": project,
               "occurred_at": iso(at), "value": str(queries)}]
    events += [{"event_id": f"{prefix}-z{i}", "metric": "dns.zones-hosted", "project": project,
                "occurred_at": iso(at), "value": "1",
                "attributes": {"zone": f"zone-{i}.{project}.example"}} for i in range(zones)]
    return {"events": events}


def _lines(api, *, period: str, account) -> tuple[dict, dict]:
    listed = api.get("/api/v1/invoices", period=period, billing_account=account.pk).json()
    (invoice,) = listed["results"]
    detail = api.get(f"/api/v1/invoices/{invoice['id']}").json()
    # A usage charge prints as several lines (its free units at rate 0, then what is
    # billed): read each charge as their sum, under the charge's own description.
    charges: dict[tuple[str, str], dict] = {}
    for line in detail["lines"]:
        key = (line["kind"], line["description"].split(", ")[0])
        if key in charges and line["kind"] == "usage":
            total = charges[key]
            for field in ("amount", "quantity"):
                total[field] = str(Decimal(total[field]) + Decimal(line[field]))
        else:
            charges[key] = dict(line)
    return detail, charges


def test_a_month_end_on_the_sandbox_clock_prorates_charges_once_and_resets_free_units(
        beta, no_cycles, own_media):
    sandbox = make_sandbox(beta, frozen_at=berlin(2026, 3, 10, 9))
    with inside(sandbox):
        datum_catalog(now=berlin(2026, 2, 1))
        acme, globex = make_consumer("acme"), make_consumer("globex")
        billing_contact_add(billing_account=globex.account, email="ap@globex.example")
    api = Api(sandbox, "bob")  # beta's fleet admin

    # The 10th, 09:00 in Berlin: both accept Pro "now", which is the sandbox's now.
    accepted = {}
    for consumer in (acme, globex):
        response = api.post(f"/api/v1/billing-accounts/{consumer.account.pk}/entitlements",
                            {"offer": "pro"})
        assert response.status_code == 201
        assert response.json()["start"] == iso(berlin(2026, 3, 10, 9))
        accepted[consumer.org.name] = response.json()["id"]

    advance(api, sandbox, berlin(2026, 3, 12, 12))
    for prefix, consumer, queries, zones in (("a1", acme, 3_000_000, 14),
                                              ("g1", globex, 1_500_000, 25)):
        result = api.post("/api/v1/usage/events", _usage(
            prefix, consumer.project.name, berlin(2026, 3, 12, 10), queries=queries,
            zones=zones)).json()
        assert result["accepted"] == 1 + zones and result["refused"] == 0

    # The 20th, 09:00: acme ends Pro; its later usage is kept as unentitled, never billed.
    advance(api, sandbox, berlin(2026, 3, 20, 9))
    ended = api.post(f"/api/v1/billing-accounts/{acme.account.pk}/entitlements/"
                     f"{accepted['acme']}/end")
    assert ended.json()["end"] == iso(berlin(2026, 3, 20, 9))
    advance(api, sandbox, berlin(2026, 3, 25, 9))
    api.post("/api/v1/usage/events", _usage("a2", acme.project.name, berlin(2026, 3, 25, 8),
                                            queries=5_000_000, zones=40))

    # Past the month end, inside the two days of grace: still a draft, still changing.
    advance(api, sandbox, berlin(2026, 4, 1, 12))
    with inside(sandbox):
        assert BillingCycle.objects.get(label="2026-03").status == CycleStatus.OPEN
    draft, _ = _lines(api, period="2026-03", account=acme.account)
    assert draft["status"] == "draft"

    # Past the grace: finalized at the month's end plus grace, exactly.
    advance(api, sandbox, berlin(2026, 4, 3, 9))
    march_acme, acme_lines = _lines(api, period="2026-03", account=acme.account)
    march_globex, globex_lines = _lines(api, period="2026-03", account=globex.account)
    for invoice in (march_acme, march_globex):
        assert invoice["status"] == "finalized" and invoice["number"].startswith("BETA-")
        assert invoice["issued_at"] == iso(berlin(2026, 4, 3))
        # Card accounts' invoices fall due 30 days on; a chargeback statement has no due
        # date (nothing is paid).
        with inside(sandbox):
            kind = Invoice.objects.get(number=invoice["number"]).billing_account.payment_kind
        due = iso(berlin(2026, 4, 3) + timedelta(days=30))
        assert invoice["due_at"] == (None if kind == "chargeback" else due)
    # March in Berlin is 743 hours (summer time from the 29th). acme had Pro for
    # 240 of them: 30.00 x 240 / 743 = 9.6904..; globex from the 10th, 09:00 to the end,
    # 518 hours: 30.00 x 518 / 743 = 20.9152..
    assert {k: acme_lines[k]["amount"] for k in (PRO_PLAN, ONBOARDING, QUERIES, ZONES)} == {
        PRO_PLAN: "9.69", ONBOARDING: "49.00",
        # 3,000,000 queries: the first 1,000,000 free, 2,000,000 x 0.0000004.
        QUERIES: "0.80",
        # 14 zones, 10 free: 4 in one package of 10 at 5.00.
        ZONES: "5.00"}
    assert acme_lines[QUERIES]["quantity"] == "3000000"  # not the unentitled 5,000,000
    assert march_acme["total"] == "64.49"
    assert {k: globex_lines[k]["amount"] for k in (PRO_PLAN, ONBOARDING, QUERIES, ZONES)} == {
        PRO_PLAN: "20.92", ONBOARDING: "49.00", QUERIES: "0.20", ZONES: "10.00"}
    # 25 distinct zones: the amount above (10.00) is what they bill; the printed lines
    # split the quantity by tier and package, so it is not summed here.
    assert march_globex["total"] == "80.12"
    assert sum(Decimal(line["amount"]) for line in march_globex["lines"]) == Decimal("80.12")

    # Delivered on the sandbox's clock: its PDF names the period in the provider's zone,
    # and the email with it is in the outbox.
    with inside(sandbox):
        delivery = InvoiceDelivery.objects.get(invoice_id=march_globex["id"])
        assert delivery.pdf_status == StepStatus.DONE and delivery.email_status == StepStatus.DONE
        assert delivery.pdf_rendered_at == berlin(2026, 4, 3)
        text = " ".join(PdfReader(str(pdf_absolute_path(delivery.pdf_path))).pages[0]
                        .extract_text().split())
        email = OutboxMessage.objects.get(to="ap@globex.example")
    assert "1–31 Mar 2026 (Europe/Berlin)" in text
    assert "3 Apr 2026 (Europe/Berlin)" in text  # issued
    assert "1–31 Mar 2026 (Europe/Berlin)" in email.text and march_globex["number"] in email.text

    # April: globex's free units start again; no second one-time fee; a full month's plan.
    result = api.post("/api/v1/usage/events", _usage(
        "g2", globex.project.name, berlin(2026, 4, 3, 8), queries=1_200_000, zones=8)).json()
    assert result["accepted"] == 9
    advance(api, sandbox, berlin(2026, 5, 3, 9))
    april, april_lines = _lines(api, period="2026-04", account=globex.account)
    assert april["status"] == "finalized" and april["number"] > march_globex["number"]
    assert april_lines[PRO_PLAN]["amount"] == "30.00"
    assert ONBOARDING not in april_lines
    assert april_lines[QUERIES]["amount"] == "0.08"  # 200,000 past the free 1,000,000
    # 8 zones, all inside the 10 free ones again (March used all 10 and more).
    assert april_lines[ZONES]["quantity"] == "8" and april_lines[ZONES]["amount"] == "0.00"
    assert april["total"] == "30.08"
    listed = api.get("/api/v1/invoices", period="2026-04", billing_account=acme.account.pk)
    assert all(Decimal(i["total"]) == 0 for i in listed.json()["results"])
