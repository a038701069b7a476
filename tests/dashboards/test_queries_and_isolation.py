"""Every page renders in a bounded number of queries whatever the data size, lists are
paginated, and two providers never see each other's pages."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoicing.models import Invoice, InvoiceStatus
from tests.conftest import host_client, inside
from tests.dashboards.conftest import signed_in
from tests.dashboards.world import grow_world

OCT = "?period=2020-10"

# (user, page, most queries it may take): session, user, roles and the page's reads.
PAGES = [
    ("ops", "/operator/" + OCT, 24),
    ("ops", "/operator/organizations/" + OCT, 12),
    ("ops", "/operator/projects/" + OCT, 13),
    ("ops", "/operator/invoices/attention/", 10),
    ("chief", "/operator/credits/", 9),
    ("carol", "/spend/" + OCT, 15),
    ("carol", "/orgs/mars-corp/" + OCT, 30),
    ("carol", "/orgs/mars-corp/invoices/", 10),
    ("erin", "/projects/adventure/" + OCT, 20),
    ("carol", "/invoice/issued", 10),
    ("carol", "/invoice/draft", 10),
    ("carol", "/account/", 8),
]


def _path(beta, path: str) -> str:
    if not path.startswith("/invoice/"):
        return path
    status = InvoiceStatus.FINALIZED if path.endswith("issued") else InvoiceStatus.DRAFT
    with inside(beta):
        invoice = Invoice.objects.filter(
            status=status, billing_account__organization__name="mars-corp").order_by("pk")[0]
    return f"/invoices/{invoice.pk}/"


def _count(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(queries)


@pytest.mark.parametrize(("username", "path", "bound"), PAGES)
def test_pages_take_a_bounded_number_of_queries_whatever_the_data_size(
        beta, world, django_assert_max_num_queries, username, path, bound):
    from accounts.models import Role
    from tests.dashboards.world import user

    client = signed_in(beta, username)
    path = _path(beta, path)
    with django_assert_max_num_queries(bound):
        assert client.get(path).status_code == 200
    counts = []
    for size in ("larger", "larger still"):
        with inside(beta):
            grow_world(world, prefix="x" if size == "larger" else "y")
            for i in range(15):
                user(f"{size[-5:]}-viewer-{i}", Role.PROJECT_BILLING_VIEWER,
                     project=world.adventure)
        with django_assert_max_num_queries(bound):
            assert client.get(path).status_code == 200
        counts.append(_count(client, path))
    # Growing the data again adds no query: nothing is fetched per row.
    assert counts[0] == counts[1], f"{path}: {counts[0]} queries, then {counts[1]}"


def test_lists_are_paginated(beta, world):
    with inside(beta):
        grow_world(world)
    client = signed_in(beta, "ops")
    first = client.get("/operator/projects/" + OCT)
    page = first.context["page"]
    assert (page.paginator.count, len(page.object_list), page.paginator.num_pages) == (51, 25, 3)
    assert b'rel="next"' in first.content and b"1\xe2\x80\x9325 of 51" in first.content
    last = client.get("/operator/projects/" + OCT + "&page=3")
    assert len(last.context["page"].object_list) == 1
    # The CSV holds every row of the table, not one page.
    csv_rows = b"".join(client.get("/operator/projects/" + OCT + "&format=csv")
                        .streaming_content).decode().strip().splitlines()
    assert len(csv_rows) == 52
    credits = client.get("/operator/credits/")
    assert credits.context["page"].paginator.count == 12


# --- isolation -------------------------------------------------------------------------


@pytest.fixture
def alpha_world(alpha):
    from invoicing.rating_run import rating_run
    from tests.dashboards.world import user
    from tests.factories import make_org, make_project
    from tests.invoicing.builders import make_cycle, run_resource, seed_catalog, seed_prices

    start, end = datetime(2020, 9, 30, 11, tzinfo=UTC), datetime(2020, 10, 31, 11, tzinfo=UTC)
    with inside(alpha):
        instance, disk = seed_catalog()
        seed_prices(instance, disk)
        org = make_org("alpha-org")
        project = make_project("alpha-proj", org)
        run_resource("i-alpha", instance, "4cpu-16gb", project, since=start)
        rating_run(cycle=make_cycle(start, end, "2020-10"), now=datetime(2020, 10, 5,
                                                                        tzinfo=UTC))
        user("aops", "fleet_viewer")


def test_one_providers_pages_never_show_the_others_data(beta, world, alpha, alpha_world):
    beta_ops = signed_in(beta, "ops")
    page = beta_ops.get("/operator/" + OCT).content.decode()
    assert "mars-corp" in page and "alpha-org" not in page and "alpha-proj" not in page
    for path in ("/orgs/alpha-org/", "/projects/alpha-proj/"):
        assert beta_ops.get(path + OCT).status_code == 404

    alpha_ops = signed_in(alpha, "aops")
    page = alpha_ops.get("/operator/" + OCT).content.decode()
    assert "alpha-org" in page and "mars-corp" not in page and "adventure" not in page
    for path in ("/orgs/mars-corp/", "/projects/adventure/"):
        assert alpha_ops.get(path + OCT).status_code == 404
    csv_text = b"".join(alpha_ops.get("/operator/projects/" + OCT + "&format=csv")
                        .streaming_content).decode()
    assert "alpha-proj" in csv_text and "adventure" not in csv_text


def test_a_session_from_one_provider_opens_no_page_on_the_other(beta, world, alpha):
    beta_client = signed_in(beta, "ops")
    other = host_client(alpha)
    other.cookies["sessionid"] = beta_client.cookies["sessionid"].value
    response = other.get("/operator/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
