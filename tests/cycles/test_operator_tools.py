"""The operator's ways to the billing calendar besides the API: `manage.py cycles` and the
admin's cycle list, whose "Add" opens a month with the service's refusals as form errors."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cycles.models import BillingCycle
from tests.conftest import PASSWORD, host_client, inside, sign_in


def run(*args: str) -> str:
    out = StringIO()
    call_command("cycles", *args, stdout=out)
    return out.getvalue()


def test_the_command_opens_a_month_moves_the_start_and_lists_the_calendar(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
    opened = run("open", "--provider", "beta", "--month", "2020-10")
    assert "beta 2020-10: opened" in opened
    assert "2020-10  [2020-10-01T00:00:00+00:00, 2020-11-01T00:00:00+00:00)  open" in opened
    assert "beta 2020-10: was already open" in run("open", "--provider", "beta", "--month",
                                                   "2020-10")
    moved = run("start", "--provider", "beta", "--month", "2020-10")
    assert "beta: bills from 2020-10 (2020-10-01T00:00:00+00:00)" in moved
    listed = run("list", "--provider", "beta")
    assert ("billing zone UTC, bills from 2020-10, events accepted up to 1 day ahead of now"
            in listed)


def test_the_command_refuses_with_the_reason(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
    with pytest.raises(CommandError, match="before this provider's billing start"):
        run("open", "--provider", "beta", "--month", "1999-12")
    with pytest.raises(CommandError, match="month must be written YYYY-MM"):
        run("open", "--provider", "beta", "--month", "October")
    with pytest.raises(CommandError, match="no provider with slug 'nowhere'"):
        run("list", "--provider", "nowhere")


def test_the_admin_opens_a_month_and_shows_refusals_on_the_form(beta):
    with inside(beta):
        BillingCycle.objects.all().delete()
    client = host_client(beta)
    assert sign_in(client, "bob", PASSWORD)
    form = client.get("/admin/cycles/billingcycle/add/")
    assert form.status_code == 200 and "Bills from 2000-01" in form.content.decode()
    added = client.post("/admin/cycles/billingcycle/add/", {"month": "2020-10"})
    assert added.status_code == 302
    refused = client.post("/admin/cycles/billingcycle/add/", {"month": "1999-12"})
    assert refused.status_code == 200
    assert "before this provider&#x27;s billing start" in refused.content.decode()
    with inside(beta):
        assert list(BillingCycle.objects.values_list("label", flat=True)) == ["2020-10"]
