"""The operator's pages: fleet spend, lists, CSV, credits, rating now; fleet roles only."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import PriceChangeSource
from catalog.services.list_prices import price_set
from invoicing.models import Credit, CreditScope, Invoice, InvoiceStatus
from metering.models import IngestionDay
from tests.conftest import inside
from tests.dashboards.conftest import signed_in

OCT = "?period=2020-10"


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_fleet_dashboard_shows_spend_forecast_trend_and_splits(beta, world):
    response = signed_in(beta, "ops").get("/operator/" + OCT)
    assert response.status_code == 200
    page = response.content.decode()
    summary = response.context["summary"]
    # 10 days of October: adventure 4320 (2 instances, 2 disks), lab-rat 432 (a disk from
    # the 5th), secret-lab 1440 (an instance); 648 a day now, 21 days to go.
    assert (summary.total, summary.daily_rate, summary.forecast) == (
        Decimal("6192.00"), Decimal("648.00"), Decimal("19800.00"))
    for text in ("$6,192.00", "$19,800.00", "$648.00", "rated until 11 Oct 2020, 00:00 (UTC)",
                 "Billing cycle 2020-10 · <span data-testid=\"cycle-period\">1–31 Oct 2020 (UTC)"):
        assert text in page
    assert [(p.label, p.amount) for p in response.context["trend"]] == [
        ("2020-09", Decimal("12960.00")), ("2020-10", Decimal("6192.00"))]
    assert [(s.key, s.amount) for s in response.context["by_type"]] == [
        ("instance", Decimal("4320.00")), ("disk", Decimal("1872.00"))]
    assert [(s.label, s.amount) for s in response.context["by_region"]] == [
        ("Mars", Decimal("6192.00"))]
    assert response.context["by_service"] is None  # no service sells these resource types
    assert [(o["name"], o["total"]) for o in response.context["top_organizations"]] == [
        ("mars-corp", Decimal("4752.00")), ("venus-corp", Decimal("1440.00"))]
    assert [(p["name"], p["total"], p["forecast"])
            for p in response.context["top_projects"]] == [
        ("adventure", Decimal("4320.00"), Decimal("13392.00")),
        ("secret-lab", Decimal("1440.00"), Decimal("4464.00")),
        ("lab-rat", Decimal("432.00"), Decimal("1944.00"))]
    # The charts' data travels as exact strings.
    assert response.context["trend_chart"] == {"labels": ["2020-09", "2020-10"],
                                               "actual": ["12960.00", "6192.00"]}
    assert 'id="trend-data"' in page and 'id="daily-data"' in page


def test_the_daily_chart_spreads_lines_over_their_days_and_adds_up(beta, world):
    response = signed_in(beta, "ops").get("/operator/" + OCT)
    days = response.context["days"]
    assert len(days) == 31
    # Oct 1-4: adventure 432 + secret-lab 144 a day; from the 5th lab-rat's disk adds 72.
    assert [d.amount for d in days[:4]] == [Decimal("576.00")] * 4
    assert [d.amount for d in days[4:10]] == [Decimal("648.00")] * 6
    assert all(d.amount is None and d.projected == Decimal("648.00") for d in days[10:])
    assert sum(d.amount for d in days[:10]) == Decimal("6192.00")


def test_daily_spend_follows_the_providers_billing_time_zone(alpha):
    """Alpha bills in Pacific/Auckland: its October starts on Sep 30, 11:00 UTC."""
    from invoicing.rating_run import rating_run
    from tests.dashboards.world import user
    from tests.factories import make_org, make_project
    from tests.invoicing.builders import make_cycle, run_resource, seed_catalog, seed_prices

    start, end = datetime(2020, 9, 30, 11, tzinfo=UTC), datetime(2020, 10, 31, 11, tzinfo=UTC)
    with inside(alpha):
        instance, disk = seed_catalog()
        seed_prices(instance, disk)
        project = make_project("kiwi", make_org("kiwi-corp"))
        run_resource("i-kiwi", instance, "4cpu-16gb", project, since=start)
        cycle = make_cycle(start, end, "2020-10")
        rating_run(cycle=cycle, now=datetime(2020, 10, 2, 11, tzinfo=UTC))
        user("kops", "fleet_viewer")
    response = signed_in(alpha, "kops").get("/operator/" + OCT)
    days = response.context["days"]
    assert [d.day.isoformat() for d in days[:3]] == ["2020-10-01", "2020-10-02", "2020-10-03"]
    assert [d.amount for d in days[:2]] == [Decimal("144.00"), Decimal("144.00")]
    assert days[2].amount is None and days[2].projected == Decimal("144.00")
    assert "€288.00" in response.content.decode()  # alpha bills in EUR


@pytest.mark.parametrize("username", ["carol", "dave", "erin", "frank", "vera"])
@pytest.mark.parametrize("path", ["/operator/", "/operator/organizations/",
                                  "/operator/projects/", "/operator/credits/",
                                  "/operator/invoices/attention/"])
def test_operator_pages_are_404_for_consumers(beta, world, username, path):
    response = signed_in(beta, username).get(path + OCT)
    assert response.status_code == 404
    assert b"4,752.00" not in response.content


def test_operator_pages_need_a_signed_in_user(beta, world):
    from tests.conftest import host_client

    response = host_client(beta).get("/operator/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/operator/"


def test_navigation_and_actions_follow_the_role(beta, world):
    admin_page = signed_in(beta, "chief").get("/operator/" + OCT).content.decode()
    viewer_page = signed_in(beta, "ops").get("/operator/" + OCT).content.decode()
    consumer_page = signed_in(beta, "carol").get("/spend/" + OCT).content.decode()
    assert 'href="/admin/catalog/price/"' in admin_page and "Rate now" in admin_page
    assert 'href="/admin/catalog/price/"' not in viewer_page and "Rate now" not in viewer_page
    assert ">Fleet<" in viewer_page and ">Credits<" in viewer_page
    assert ">Fleet<" not in consumer_page and ">Spend<" in consumer_page
    assert 'href="/admin/catalog/price/"' not in consumer_page


def test_organizations_list_is_paginated_and_exports_csv_safely(beta, world):
    with inside(beta):
        world.venus.display_name = '=HYPERLINK("http://evil","click")'
        world.venus.save()
    client = signed_in(beta, "ops")
    response = client.get("/operator/organizations/" + OCT)
    assert response.status_code == 200
    assert [(o["name"], o["total"]) for o in response.context["page"]] == [
        ("mars-corp", Decimal("4752.00")), ("venus-corp", Decimal("1440.00"))]
    rows = _csv(client.get("/operator/organizations/" + OCT + "&format=csv"))
    assert rows == [
        ["organization", "display_name", "period", "currency", "spend"],
        ["mars-corp", "Mars Corp", "2020-10", "USD", "4752.00"],
        ["venus-corp", '\'=HYPERLINK("http://evil","click")', "2020-10", "USD", "1440.00"],
    ]


def test_projects_list_and_csv_carry_spend_daily_rate_and_forecast(beta, world):
    client = signed_in(beta, "ops")
    response = client.get("/operator/projects/" + OCT)
    assert [(p["name"], p["forecast"]) for p in response.context["page"]] == [
        ("adventure", Decimal("13392.00")), ("secret-lab", Decimal("4464.00")),
        ("lab-rat", Decimal("1944.00"))]
    response = client.get("/operator/projects/" + OCT + "&format=csv")
    assert response["Content-Disposition"] == 'attachment; filename="beta-projects-2020-10.csv"'
    assert _csv(response) == [
        ["project", "organization", "period", "currency", "spend", "daily_rate", "forecast"],
        ["adventure", "mars-corp", "2020-10", "USD", "4320.00", "432.00", "13392.00"],
        ["secret-lab", "venus-corp", "2020-10", "USD", "1440.00", "144.00", "4464.00"],
        ["lab-rat", "mars-corp", "2020-10", "USD", "432.00", "72.00", "1944.00"],
    ]


def test_an_unknown_period_is_404(beta, world):
    client = signed_in(beta, "ops")
    assert client.get("/operator/?period=1999-01").status_code == 404
    assert client.get("/operator/?period=nonsense").status_code == 404


def test_ingestion_health_shows_todays_counts(beta, world):
    with inside(beta):
        IngestionDay.objects.create(day=timezone.now().date(), stream="lifecycle", accepted=5,
                                    duplicate=2, refused=1)
    response = signed_in(beta, "ops").get("/operator/" + OCT)
    lifecycle, usage = response.context["ingestion"]
    assert (lifecycle.accepted, lifecycle.duplicate, lifecycle.refused) == (5, 2, 1)
    assert (usage.accepted, usage.duplicate, usage.refused) == (0, 0, 0)
    assert '<span class="badge badge-warn">1</span>' in response.content.decode()


def test_invoices_needing_attention_list_failed_deliveries(beta, world):
    with inside(beta):
        from invoicing.models import InvoiceDelivery, PaymentStatus, StepStatus

        issued = Invoice.objects.get(status=InvoiceStatus.FINALIZED)
        InvoiceDelivery.objects.update_or_create(invoice=issued, defaults={
            "pdf_status": StepStatus.FAILED, "payment_status": PaymentStatus.GIVEN_UP,
            "failed_step": "pdf", "last_error": "OSError: disk full"})
    client = signed_in(beta, "ops")
    dashboard = client.get("/operator/" + OCT)
    assert [row["invoice"].number for row in dashboard.context["attention"]] == [issued.number]
    assert dashboard.context["attention"][0]["reasons"] == [
        "PDF failed", "Payment: Failed (retries exhausted)"]
    page = client.get("/operator/invoices/attention/")
    assert page.status_code == 200 and b"OSError: disk full" in page.content
    rows = _csv(client.get("/operator/invoices/attention/?format=csv"))
    assert rows[1] == [issued.number, "2020-09", "mars-corp", "Main", "USD", "12960.00",
                       "PDF failed; Payment: Failed (retries exhausted)", "OSError: disk full"]


def test_fleet_admin_creates_a_credit_from_the_form(beta, world):
    client = signed_in(beta, "chief")
    form = {"name": "Rack 7 outage", "description": "Power loss in rack 7",
            "window_start": "2020-10-02T00:00", "window_end": "2020-10-02T05:30",
            "scope": "project", "project": "adventure"}
    response = client.post("/operator/credits/", form)
    assert response.status_code == 302 and response["Location"] == "/operator/credits/"
    with inside(beta):
        credit = Credit.objects.get()
        assert (credit.scope, credit.project_id, credit.created_by.username) == (
            CreditScope.PROJECT, world.adventure.pk, "chief")
        assert credit.window_start == datetime(2020, 10, 2, tzinfo=UTC)
        assert credit.window_end == datetime(2020, 10, 2, 5, 30, tzinfo=UTC)
    listing = client.get("/operator/credits/")
    assert b"Rack 7 outage" in listing.content
    assert "Credit “Rack 7 outage” created" in listing.content.decode()
    rows = _csv(client.get("/operator/credits/?format=csv"))
    assert rows[1] == ["Rack 7 outage", "Power loss in rack 7", "2020-10-02T00:00:00+00:00",
                       "2020-10-02T05:30:00+00:00", "project", "adventure", "", "", "chief"]


def test_a_credit_the_service_refuses_shows_its_reasons_and_writes_nothing(beta, world):
    client = signed_in(beta, "chief")
    base = {"name": "Late", "description": "x", "scope": "project", "project": "adventure"}
    backwards = client.post("/operator/credits/", {
        **base, "window_start": "2020-10-02T05:00", "window_end": "2020-10-02T01:00"})
    assert backwards.status_code == 400
    assert b"the window must end after it starts" in backwards.content
    finalized = client.post("/operator/credits/", {
        **base, "window_start": "2020-09-02T05:00", "window_end": "2020-09-02T06:00"})
    assert finalized.status_code == 400
    assert b"falls in the billing cycle 2020-09, which is finalized" in finalized.content
    unknown = client.post("/operator/credits/", {
        **base, "project": "nope", "window_start": "2020-10-02T05:00",
        "window_end": "2020-10-02T06:00"})
    assert unknown.status_code == 400 and b"No project with this name." in unknown.content
    with inside(beta):
        assert not Credit.objects.exists()


def test_a_fleet_viewer_sees_credits_but_cannot_create_one(beta, world):
    client = signed_in(beta, "ops")
    page = client.get("/operator/credits/")
    assert page.status_code == 200 and b"credit-form" not in page.content
    response = client.post("/operator/credits/", {"name": "x"})
    assert response.status_code == 404
    with inside(beta):
        assert not Credit.objects.exists()


def test_rate_now_applies_a_new_price_to_the_forecast(beta, world):
    client = signed_in(beta, "chief")
    with inside(beta):
        price_set(metric_key="instance", variant="4cpu-16gb", rate=Decimal("0.20"),
                  time_unit="minute", effective_from=datetime(2020, 10, 1, tzinfo=UTC),
                  now=datetime(2020, 10, 11, tzinfo=UTC), source=PriceChangeSource.API)
    before = client.get("/operator/projects/" + OCT).context["page"][0]
    assert (before["name"], before["forecast"]) == ("adventure", Decimal("13392.00"))
    response = client.post("/operator/rate/", {"next": "/operator/projects/" + OCT})
    assert response.status_code == 302 and response["Location"] == "/operator/projects/" + OCT
    after = client.get("/operator/projects/" + OCT)
    row = after.context["page"][0]
    # October is rated to its end now: 31 days of 2 instances at 0.20 and 2 disks at 0.05.
    assert (row["name"], row["total"], row["forecast"]) == (
        "adventure", Decimal("22320.00"), Decimal("22320.00"))
    assert "Rated 2020-10" in after.content.decode()


def test_rate_now_goes_back_only_to_a_page_of_this_site(beta, world):
    client = signed_in(beta, "chief")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        response = client.post("/operator/rate/", {"next": target})
        assert response["Location"] == "/operator/", target


def test_rate_now_is_for_fleet_admins_only(beta, world):
    assert signed_in(beta, "ops").post("/operator/rate/").status_code == 404
    assert signed_in(beta, "carol").post("/operator/rate/").status_code == 404
    assert signed_in(beta, "chief").get("/operator/rate/").status_code == 405


def test_unentitled_usage_is_shown_to_operators_of_providers_that_sell_offers(beta, world):
    from catalog.models import Aggregation, Metric, Service
    from tenancy.middleware import provider_cache_clear
    from tenancy.models import Provider
    from tests.factories import make_usage_event

    client = signed_in(beta, "ops")
    page = client.get("/operator/" + OCT)
    assert page.context["unentitled"] is None and b"Unentitled usage" not in page.content
    assert client.get("/operator/unentitled/" + OCT).status_code == 404

    Provider.objects.filter(slug="beta").update(billing_mode="offers")
    provider_cache_clear()  # .update() sends no signal; a save in the admin would clear it
    with inside(beta):
        dns = Service.objects.create(key="dns", name="DNS")
        queries = Metric.objects.create(key="dns.queries", name="DNS queries", service=dns,
                                        aggregation=Aggregation.SUM)
        for i in range(3):
            make_usage_event(
                event_id=f"u-{i}", metric=queries, project=world.adventure,
                occurred_at=datetime(2020, 10, 3 + i, tzinfo=UTC), value=Decimal("10.5"),
                received_at=datetime(2020, 10, 3 + i, tzinfo=UTC))
    page = client.get("/operator/" + OCT)
    assert [(u.project, u.metric, u.events, u.total_value)
            for u in page.context["unentitled"]] == [
        ("adventure", "dns.queries", 3, Decimal("31.5"))]
    full = client.get("/operator/unentitled/" + OCT)
    assert full.status_code == 200 and b"dns.queries" in full.content
    rows = _csv(client.get("/operator/unentitled/" + OCT + "&format=csv"))
    assert rows[1][:5] == ["mars-corp", "adventure", "dns.queries", "3", "31.5"]
