"""A billing month that crosses a daylight saving change: March 2026 in New York is 743
hours long (clocks spring forward on 8 March), from local midnight to local midnight."""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.management import call_command

from accounts.onboarding import provider_onboard
from cycles.models import BillingCycle, CycleStatus
from cycles.services import billing_start_set
from invoicing.models import Invoice, InvoiceStatus, LineKind
from tests.catalog.conftest import api_client
from tests.conftest import PASSWORD, inside
from tests.factories import make_region, make_resource_type

NEW_YORK = ZoneInfo("America/New_York")


def test_an_instance_running_all_of_march_2026_in_new_york_bills_743_hours(db):
    provider = provider_onboard(slug="nyc", name="New York Cloud", admin_username="nina",
                                admin_password=PASSWORD,
                                billing_timezone="America/New_York").provider
    with inside(provider):
        billing_start_set(month="2026-03")
        make_region("hudson", "Hudson")
        make_resource_type("instance", "Instance", {"4cpu-16gb": "4 CPU, 16 GB Memory"})
        call_command("cycles", "open", "--provider", "nyc", "--month", "2026-03")
    api = api_client(provider, "nina")
    assert api.post("/api/v1/organizations", {"name": "gotham", "display_name": "Gotham"},
                    content_type="application/json").status_code == 201
    assert api.post("/api/v1/projects", {
        "name": "subway", "organization": "gotham",
        "billing_from": "2026-03-01T00:00:00-05:00"},
        content_type="application/json").status_code == 201
    assert api.put("/api/v1/system/billing/instance", {
        "rate": "1", "unit": "hour", "effective_from": "2026-03-01T00:00:00-05:00"},
        content_type="application/json").status_code == 200
    events = [{"event_id": f"vm-{kind}", "resource_id": "vm-1", "kind": kind,
               "resource_type": "instance", "variant": "4cpu-16gb", "project": "subway",
               "region": "hudson", "occurred_at": at}
              for kind, at in (("created", "2026-03-01T00:00:00-05:00"),   # EST
                               ("deleted", "2026-04-01T00:00:00-04:00"))]  # EDT
    ingested = api.post("/api/v1/resources/events", {"events": events},
                        content_type="application/json").json()
    assert ingested["accepted"] == 2, ingested

    call_command("close_cycles", "--provider", "nyc")

    with inside(provider):
        march = BillingCycle.objects.get(label="2026-03")
        # Local midnights, stored in UTC: 05:00 UTC in EST, 04:00 UTC in EDT.
        assert march.start == datetime(2026, 3, 1, 5, tzinfo=UTC)
        assert march.end == datetime(2026, 4, 1, 4, tzinfo=UTC)
        assert march.start.astimezone(NEW_YORK).timetuple()[:6] == (2026, 3, 1, 0, 0, 0)
        assert march.end.astimezone(NEW_YORK).timetuple()[:6] == (2026, 4, 1, 0, 0, 0)
        assert march.status == CycleStatus.CLOSED
        # Deleted at the stroke of April: April bills nothing, so it has no cycle.
        assert not BillingCycle.objects.filter(label="2026-04").exists()
        invoice = Invoice.objects.get(cycle=march)
        line = invoice.lines.get(kind=LineKind.USAGE)
        assert invoice.status == InvoiceStatus.FINALIZED and invoice.number == "NYC-000001"
        assert (line.quantity, line.unit, line.rate) == (Decimal(743), "hour", Decimal(1))
        assert line.amount == invoice.total == Decimal("743.00")
    calendar = api.get("/api/v1/cycles").json()
    assert calendar["time_zone"] == "America/New_York"
    assert [c for c in calendar["cycles"] if c["label"] == "2026-03"] == [{
        "label": "2026-03", "start": "2026-03-01T05:00:00Z", "end": "2026-04-01T04:00:00Z",
        "last_day": "2026-03-31", "status": "closed", "closed_at": calendar["cycles"][0][
            "closed_at"]}]
