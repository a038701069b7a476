"""The README's rehearsal: the offers demo in a sandbox, its month end reached by moving
the clock, with the commands the README gives."""

import io

import pytest
from django.core.management import CommandError, call_command

from cycles.models import BillingCycle, CycleStatus
from invoicing.models import Invoice, InvoiceStatus
from tenancy.models import Provider
from tests.conftest import inside


@pytest.mark.usefixtures("own_media")
def test_the_offers_demo_in_a_sandbox_closes_its_month_when_the_clock_passes_it(db):
    out = io.StringIO()
    call_command("tally_demo", "--sandbox", "rehearsal", "--frozen-at", "2026-03-10T09:00:00Z",
                 stdout=out)
    text = out.getvalue()
    assert "loaded rehearsal demo data: 3 consumers" in text
    assert "rehearsal is a sandbox: its clock reads 10 Mar 2026, 09:00 (UTC)" in text
    rehearsal = Provider.objects.get(slug="rehearsal")
    assert rehearsal.sandbox and rehearsal.billing_mode == "offers"
    with inside(rehearsal):
        # Its history is the month before the clock: February is closed and invoiced.
        assert BillingCycle.objects.get(label="2026-02").status == CycleStatus.CLOSED
        february = Invoice.objects.filter(cycle__label="2026-02", status=InvoiceStatus.FINALIZED)
        assert february.count() == 3
        assert not Invoice.objects.filter(cycle__label="2026-03").exclude(
            status=InvoiceStatus.DRAFT).exists()

    out = io.StringIO()
    call_command("test_clock", "--provider", "rehearsal", "--advance-to",
                 "2026-04-02T00:00:00Z", stdout=out)
    assert "rehearsal: now is 2 Apr 2026, 00:00 (UTC), ready" in out.getvalue()
    with inside(rehearsal):
        assert BillingCycle.objects.get(label="2026-03").status == CycleStatus.CLOSED
        march = Invoice.objects.filter(cycle__label="2026-03", status=InvoiceStatus.FINALIZED)
        assert sorted(march.values_list("number", flat=True)) == [
            "REHEARSAL-000004", "REHEARSAL-000005", "REHEARSAL-000006"]
        startup = march.get(billing_account__organization__name="startup")
        kinds = sorted(line.kind for line in startup.lines.all())
        assert "recurring" in kinds and "one_time" not in kinds  # charged in February, once

    with pytest.raises(CommandError, match="live provider"):
        call_command("tally_demo", "--sandbox", "beta")
    with pytest.raises(CommandError, match="go with --sandbox"):
        call_command("tally_demo", "--frozen-at", "2026-03-10T09:00:00Z")
