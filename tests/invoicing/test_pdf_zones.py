"""Every date shown names its zone: a month that crosses a daylight saving change is billed
by its real hours, bounded by local midnights, and printed by its first and inclusive last
day in the provider's zone, in the PDF, the HTML invoice, the email and the CSV alike."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from accounts.organizations import billing_contact_add
from invoicing.models import InvoiceDelivery, StepStatus
from invoicing.pdf import pdf_absolute_path
from notifications.models import OutboxMessage
from tests.accounts.support import Api
from tests.conftest import host_client, inside, sign_in
from tests.cycles.sandbox import advance, iso, make_sandbox
from tests.factories import make_org, make_project, make_region, make_resource_type


def local(zone, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


@pytest.mark.usefixtures("own_media")
@pytest.mark.parametrize(("zone", "year", "month", "hours", "label", "utc_bounds"), [
    # Summer time starts on 8 March: 743 hours, from 05:00 UTC to 04:00 UTC.
    ("America/New_York", 2026, 3, 743, "1–31 Mar 2026 (America/New_York)",
     ("2026-03-01T05:00:00Z", "2026-04-01T04:00:00Z")),
    # Summer time ended on 25 October: November is 720 hours, 23:00 UTC to 23:00 UTC.
    ("Europe/Berlin", 2026, 11, 720, "1–30 Nov 2026 (Europe/Berlin)",
     ("2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z")),
])
def test_a_month_is_billed_by_its_hours_and_printed_by_its_days_in_the_providers_zone(
        alpha, no_cycles, zone, year, month, hours, label, utc_bounds):
    start = local(zone, year, month, 1)
    sandbox = make_sandbox(alpha, frozen_at=start, zone=zone, grace=timedelta(0), offers=False)
    with inside(sandbox):
        make_resource_type("instance", "Instance", {"4cpu-16gb": "4 CPU, 16 GB Memory"})
        make_region("mars", "Mars")
        org = make_org("mars-corp")
        make_project("adventure", org)
        billing_contact_add(billing_account=org.billing_accounts.get(),
                            email="finance@mars.example")
    api = Api(sandbox, "alice")
    price = api.put("/api/v1/system/billing/instance",
                    {"variant": "4cpu-16gb", "rate": "1", "unit": "hour"})
    assert price.status_code == 200, price.json()
    created = api.post("/api/v1/resources/events", {"events": [{
        "event_id": "vm-1-created", "resource_id": "vm-1", "kind": "created",
        "resource_type": "instance", "variant": "4cpu-16gb", "project": "adventure",
        "region": "mars", "occurred_at": iso(start)}]})
    assert created.json()["accepted"] == 1, created.json()

    following = local(zone, year + (month == 12), month % 12 + 1, 1)
    advance(api, sandbox, following + timedelta(hours=1))

    (listed,) = api.get("/api/v1/invoices", status="finalized").json()["results"]
    assert (listed["period_start"], listed["period_end"]) == utc_bounds
    invoice = api.get(f"/api/v1/invoices/{listed['id']}").json()
    (line,) = invoice["lines"]
    assert line["quantity"] == str(hours) and line["amount"] == f"{hours}.00"
    assert invoice["total"] == f"{hours}.00"
    assert invoice["issued_at"] == iso(following)  # closed at its end (no grace)

    with inside(sandbox):
        delivery = InvoiceDelivery.objects.get(invoice_id=listed["id"])
        assert delivery.pdf_status == StepStatus.DONE
        pdf = PdfReader(str(pdf_absolute_path(delivery.pdf_path)))
        text = " ".join(pdf.pages[0].extract_text().split())
        email = OutboxMessage.objects.get(to="finance@mars.example")
    assert label in text
    assert f"Period ({zone})" in text
    assert label in email.text and label in email.html

    client = host_client(sandbox)
    assert sign_in(client, "alice")
    page = client.get(f"/invoices/{listed['id']}/")
    assert page.status_code == 200 and label in page.content.decode()
    # The CSV: the rows the PDF prints (invoicing/presenter.py), the zone named in the
    # Period heading, each period by its first and inclusive last day in that zone.
    csv = client.get(f"/invoices/{listed['id']}/", {"format": "csv"})
    rows = b"".join(csv.streaming_content).decode().splitlines()
    assert rows[0].startswith(f"Period ({zone}),")
    assert rows[1].startswith(label.removesuffix(f" ({zone})") + ",")
