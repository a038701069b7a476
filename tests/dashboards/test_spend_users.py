"""The spend-per-user page: each user's spend and the lines behind it, adding up to the
invoices' total to the cent, in the scope each role may see, in bounded queries."""

import re
from decimal import Decimal

import pytest

from invoicing.models import Invoice, InvoiceLine
from tests.conftest import inside
from tests.dashboards.conftest import signed_in
from tests.invoicing.spend_users_world import build_users_world

PAGE = "/spend/users/?period=2020-10"
ROW = re.compile(r'<tr data-user="([^"]*)">.*?</td><td class="num">(\d+)</td>'
                 r'<td class="num">([^<]+)</td></tr>', re.S)


@pytest.fixture
def world(beta):
    with inside(beta):
        return build_users_world()


def _money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", "").replace("\u2212", "-").strip())


def _rows(html: str) -> dict[str, Decimal]:
    return {user: _money(amount) for user, _, amount in ROW.findall(html)}


def test_org_admin_page_adds_up_to_the_invoices_and_drills_to_the_lines(beta, world):
    client = signed_in(beta, "carol")
    html = client.get(PAGE + "&org=mars-corp").content.decode()
    rows = _rows(html)
    assert set(rows) == {"alice", "bram", ""}
    with inside(beta):
        invoiced = sum(Invoice.objects.filter(
            cycle=world["october"], billing_account__organization=world["mars"]
        ).values_list("total", flat=True))
        alice_lines = list(InvoiceLine.objects.filter(
            invoice__cycle=world["october"], created_by__username="alice"))
    assert sum(rows.values()) == invoiced
    total = re.search(r'data-testid="users-total">([^<]+)<', html).group(1)
    assert _money(total) == invoiced
    drill = client.get(PAGE + "&org=mars-corp&user=alice").content.decode()
    assert "Lines of resources alice created" in drill
    assert drill.count("<td class=\"small\">") == len(alice_lines) == 2
    assert rows["alice"] == sum(line.amount for line in alice_lines)
    loose = client.get(PAGE + "&org=mars-corp&user=-").content.decode()
    assert "Lines not attributed to a user" in loose and "Rack outage" in loose


def test_a_project_viewer_sees_their_project_only(beta, world):
    client = signed_in(beta, "alice")
    rows = _rows(client.get(PAGE).content.decode())
    with inside(beta):
        adventure = sum(InvoiceLine.objects.filter(
            invoice__cycle=world["october"], project=world["adventure"]
        ).values_list("amount", flat=True))
        bram_adventure = InvoiceLine.objects.get(
            invoice__cycle=world["october"], project=world["adventure"],
            created_by__username="bram").amount
    assert sum(rows.values()) == adventure
    assert rows["bram"] == bram_adventure  # not his telescope spend
    assert client.get(PAGE + "&project=telescope").status_code == 404
    assert client.get(PAGE + "&user=vera").status_code == 404
    vera = _rows(signed_in(beta, "vera").get(PAGE).content.decode())
    assert set(vera) == {"vera", ""}


def test_the_page_takes_the_same_queries_with_more_users_and_lines(
        beta, world, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from invoicing.rating_run import rating_run
    from metering.lifecycle_ingest import lifecycle_events_ingest
    from tests.dashboards.world import user
    from tests.invoicing.spend_users_world import RATED_UNTIL, lifecycle_item

    client = signed_in(beta, "ops")

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return len(queries)

    small = (count(PAGE), count(PAGE + "&user=alice"))
    with inside(beta):
        from accounts.models import Role
        for i in range(12):
            user(f"dev-{i}", Role.PROJECT_BILLING_VIEWER, project=world["adventure"])
        lifecycle_events_ingest(items=[
            lifecycle_item(f"i-dev-{i}-{k}", "instance", "4cpu-16gb", "adventure",
                           f"dev-{i}", 30 + k, None) for i in range(12) for k in range(2)
        ] + [lifecycle_item(f"d-alice-{k}", "disk", "500gb", "adventure", "alice", k, None)
             for k in range(2, 30)], now=RATED_UNTIL)
        rating_run(cycle=world["october"], now=RATED_UNTIL)
    large = (count(PAGE), count(PAGE + "&user=alice"))
    assert large == small
    with django_assert_max_num_queries(14):
        assert client.get(PAGE + "&user=alice").status_code == 200
