"""Consumers' pages: sign-in, their spend, organization and project dashboards, invoices,
offers and budgets, each within the caller's roles (404 outside them)."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from invoicing.models import Invoice, InvoiceStatus
from tests.audit.support import actor_of, events_of
from tests.conftest import PASSWORD, host_client, inside
from tests.dashboards.conftest import signed_in

OCT = "?period=2020-10"


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- sign-in and landing ---------------------------------------------------------------


def test_the_sign_in_page_signs_in_and_lands_on_the_roles_dashboard(beta, world):
    client = host_client(beta)
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="username"' in page.content
    assert b"Sign in to Beta Cloud" in page.content
    wrong = client.post("/login/", {"username": "carol", "password": "nope"})
    assert wrong.status_code == 200 and b"alert error" in wrong.content
    response = client.post("/login/", {"username": "carol", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/")["Location"] == "/spend/"
    assert signed_in(beta, "ops").get("/")["Location"] == "/operator/"


def test_the_home_page_asks_anonymous_visitors_to_sign_in(beta, world):
    response = host_client(beta).get("/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/"


def test_signing_out_ends_the_session(beta, world):
    client = signed_in(beta, "carol")
    assert client.post("/logout/").status_code == 302
    assert client.get("/spend/").status_code == 302


def test_the_account_page_lists_the_users_api_keys(beta, world):
    from accounts.api_keys import api_key_issue

    with inside(beta):
        api_key_issue(username="carol", name="exporter")
    page = signed_in(beta, "carol").get("/account/")
    assert page.status_code == 200 and b"exporter" in page.content


# --- spend overview --------------------------------------------------------------------


def test_an_org_admin_sees_the_organizations_projects_only(beta, world):
    response = signed_in(beta, "carol").get("/spend/" + OCT)
    assert [(o["name"], o["total"]) for o in response.context["org_page"]] == [
        ("mars-corp", Decimal("4752.00"))]
    assert [(p["name"], p["total"], p["forecast"]) for p in response.context["project_page"]] \
        == [("adventure", Decimal("4320.00"), Decimal("13392.00")),
            ("lab-rat", Decimal("432.00"), Decimal("1944.00"))]
    assert b"secret-lab" not in response.content


def test_a_project_viewer_sees_the_project_and_no_organization_spend(beta, world):
    response = signed_in(beta, "erin").get("/spend/" + OCT)
    assert list(response.context["org_page"]) == []
    assert [p["name"] for p in response.context["project_page"]] == ["adventure"]
    assert b"4,752.00" not in response.content and b"lab-rat" not in response.content


def test_a_user_without_roles_sees_nothing(beta, world):
    response = signed_in(beta, "frank").get("/spend/" + OCT)
    assert response.status_code == 200
    assert list(response.context["project_page"]) == []
    assert b"adventure" not in response.content


def test_the_spend_csv_holds_the_callers_projects(beta, world):
    rows = _csv(signed_in(beta, "erin").get("/spend/" + OCT + "&format=csv"))
    assert rows == [
        ["project", "organization", "period", "currency", "spend", "daily_rate", "forecast"],
        ["adventure", "mars-corp", "2020-10", "USD", "4320.00", "432.00", "13392.00"]]


# --- organization ----------------------------------------------------------------------


@pytest.mark.parametrize("username", ["carol", "dave", "ops", "chief"])
def test_the_organization_dashboard(beta, world, username):
    response = signed_in(beta, username).get("/orgs/mars-corp/" + OCT)
    assert response.status_code == 200
    summary = response.context["summary"]
    # adventure 4320 + lab-rat 432; 504 a day, 21 days to go.
    assert (summary.total, summary.daily_rate, summary.forecast) == (
        Decimal("4752.00"), Decimal("504.00"), Decimal("15336.00"))
    assert [(s.key, s.amount) for s in response.context["by_type"]] == [
        ("instance", Decimal("2880.00")), ("disk", Decimal("1872.00"))]
    assert [(i.billing_account.name, i.total) for i in response.context["upcoming"]] == [
        ("Lab", Decimal("432.00")), ("Main", Decimal("4320.00"))]
    assert [(i.number, i.total) for i in response.context["past_invoices"]] == [
        ("BETA-000001", Decimal("12960.00"))]
    accounts = response.context["accounts"]
    assert [(a.name, a.is_default, [p.name for p in a.current_projects]) for a in accounts] == [
        ("Main", True, ["adventure"]), ("Lab", False, ["lab-rat"])]
    page = response.content.decode()
    for text in ("$4,752.00", "$15,336.00", "BETA-000001", "Internal chargeback"):
        assert text in page
    assert "secret-lab" not in page


@pytest.mark.parametrize("username", ["erin", "frank", "vera"])
def test_the_organization_dashboard_is_404_outside_the_callers_scope(beta, world, username):
    client = signed_in(beta, username)
    for path in ("/orgs/mars-corp/", "/orgs/mars-corp/invoices/"):
        response = client.get(path + OCT)
        assert response.status_code == 404, (username, path)
        assert b"4,752.00" not in response.content
    assert client.get("/orgs/no-such-org/").status_code == 404


def test_the_organizations_project_table_exports_csv(beta, world):
    rows = _csv(signed_in(beta, "dave").get("/orgs/mars-corp/" + OCT + "&format=csv"))
    assert [row[:2] + row[4:] for row in rows] == [
        ["project", "organization", "spend", "daily_rate", "forecast"],
        ["adventure", "mars-corp", "4320.00", "432.00", "13392.00"],
        ["lab-rat", "mars-corp", "432.00", "72.00", "1944.00"]]


def test_past_invoices_are_listed_with_csv(beta, world):
    client = signed_in(beta, "dave")
    page = client.get("/orgs/mars-corp/invoices/")
    assert [i.number for i in page.context["page"]] == ["BETA-000001"]
    rows = _csv(client.get("/orgs/mars-corp/invoices/?format=csv"))
    assert rows[1][:7] == ["BETA-000001", "2020-09", "Main", "finalized", "USD", "12960.00",
                           "12960.00"]


# --- project ---------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["erin", "carol", "dave", "ops"])
def test_the_project_dashboard(beta, world, username):
    response = signed_in(beta, username).get("/projects/adventure/" + OCT)
    assert response.status_code == 200
    summary = response.context["summary"]
    assert (summary.total, summary.forecast) == (Decimal("4320.00"), Decimal("13392.00"))
    assert [d.amount for d in response.context["days"][:10]] == [Decimal("432.00")] * 10
    lines = list(response.context["line_page"])
    assert sorted((ln.metric_key, ln.amount) for ln in lines) == [
        ("disk", Decimal("1440.00")), ("instance", Decimal("2880.00"))]
    assert response.context["billing_account"].name == "Main"


def test_a_project_viewer_cannot_reach_another_project(beta, world):
    client = signed_in(beta, "erin")
    for name in ("lab-rat", "secret-lab", "no-such-project"):
        response = client.get(f"/projects/{name}/" + OCT)
        assert response.status_code == 404
        assert b"432.00" not in response.content and b"1,440.00" not in response.content


def test_an_org_admin_cannot_reach_another_organizations_project(beta, world):
    assert signed_in(beta, "carol").get("/projects/secret-lab/").status_code == 404
    assert signed_in(beta, "vera").get("/projects/secret-lab/" + OCT).status_code == 200


def test_the_project_lines_export_as_csv(beta, world):
    rows = _csv(signed_in(beta, "erin").get("/projects/adventure/" + OCT + "&format=csv"))
    assert rows[0] == ["period_start", "period_end", "region", "description", "resource",
                       "project", "resource_type", "kind", "resource_count", "quantity",
                       "unit", "rate", "amount"]
    assert sorted((r[6], r[8], r[9], r[11], r[12]) for r in rows[1:]) == [
        ("disk", "2", "28800", "0.05", "1440.00"),
        ("instance", "2", "28800", "0.1", "2880.00")]


# --- invoices --------------------------------------------------------------------------


def _invoice(beta, **filters) -> Invoice:
    with inside(beta):
        return Invoice.objects.select_related("billing_account").get(**filters)


def test_an_invoice_page_shows_its_lines_and_exports_them(beta, world):
    issued = _invoice(beta, status=InvoiceStatus.FINALIZED)
    client = signed_in(beta, "dave")
    page = client.get(f"/invoices/{issued.pk}/")
    assert page.status_code == 200
    # A chargeback account's document is a statement (invoicing/presenter.py).
    assert b"Statement BETA-000001" in page.content and b"$12,960.00" in page.content
    rows = _csv(client.get(f"/invoices/{issued.pk}/?format=csv"))
    # The PDF's columns and strings; the lines, then the totals in the last two columns.
    assert rows[0][-3:] == ["Quantity", "Rate", "Amount"]
    lines = [row for row in rows[1:] if row[0]]
    assert sum(Decimal(r[8].replace("$", "").replace(",", "")) for r in lines) == Decimal(
        "12960.00")
    assert rows[-1][-2:] == ["Total (USD)", "$12,960.00"]
    draft = _invoice(beta, status=InvoiceStatus.DRAFT, billing_account__name="Main",
                     billing_account__organization__name="mars-corp")
    assert client.get(f"/invoices/{draft.pk}/").status_code == 200


@pytest.mark.parametrize("username", ["erin", "vera", "frank"])
def test_invoices_are_404_outside_the_organization_roles(beta, world, username):
    issued = _invoice(beta, status=InvoiceStatus.FINALIZED)
    client = signed_in(beta, username)
    for path in (f"/invoices/{issued.pk}/", f"/invoices/{issued.pk}/pdf",
                 f"/invoices/{issued.pk}/?format=csv"):
        assert client.get(path).status_code == 404, (username, path)


def test_the_pdf_of_an_issued_invoice_downloads(beta, world):
    issued = _invoice(beta, status=InvoiceStatus.FINALIZED)
    client = signed_in(beta, "carol")
    page = client.get("/orgs/mars-corp/")
    assert f'href="/invoices/{issued.pk}/pdf"'.encode() in page.content
    response = client.get(f"/invoices/{issued.pk}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="BETA-000001.pdf"'
    assert b"".join(response.streaming_content).startswith(b"%PDF-")


def test_a_draft_has_no_pdf(beta, world):
    draft = _invoice(beta, status=InvoiceStatus.DRAFT, billing_account__name="Main",
                     billing_account__organization__name="mars-corp")
    assert signed_in(beta, "carol").get(f"/invoices/{draft.pk}/pdf").status_code == 404


# --- offers ----------------------------------------------------------------------------


@pytest.fixture
def pro_offer(beta, world):
    from catalog.services.features import service_create
    from catalog.services.offers import OfferContent, offer_create

    with inside(beta):
        service_create(key="support", name="Support")
        return offer_create(
            key="pro", name="Pro", description="Named engineer",
            content=OfferContent(services=["support"], charges=[
                {"model": "recurring", "name": "Pro support", "amount": "49",
                 "service": "support"}]),
            now=datetime(2020, 10, 1, tzinfo=UTC))


def test_an_org_admin_accepts_a_public_offer_once(beta, world, pro_offer):
    from accounts.models import Entitlement

    client = signed_in(beta, "carol")
    page = client.get("/orgs/mars-corp/")
    assert b'action="/orgs/mars-corp/offers/pro/preview/"' in page.content
    with inside(beta):
        main = world.mars.billing_accounts.get(name="Main")
    # Without confirming, nothing happens: the preview is shown instead.
    unconfirmed = client.post("/orgs/mars-corp/offers/pro/accept/", {"billing_account": main.pk})
    assert unconfirmed["Location"] == (
        f"/orgs/mars-corp/offers/pro/preview/?billing_account={main.pk}")
    preview = client.get(unconfirmed["Location"])
    assert preview.status_code == 200 and b"Confirm: accept Pro" in preview.content
    response = client.post("/orgs/mars-corp/offers/pro/accept/",
                           {"billing_account": main.pk, "confirm": "yes"})
    assert response.status_code == 302
    assert response["Location"] == "/orgs/mars-corp/offers/"
    page = client.get("/orgs/mars-corp/offers/")
    assert "Main now has Pro v1" in page.content.decode()
    assert [e.offer_version.offer.key for e in page.context["entitlements"]] == ["pro"]
    # Accepting again changes nothing and says why.
    again = client.post("/orgs/mars-corp/offers/pro/accept/",
                        {"billing_account": main.pk, "confirm": "yes"})
    assert again.status_code == 302
    assert "already" in client.get("/orgs/mars-corp/offers/").content.decode()
    with inside(beta):
        entitlement = Entitlement.objects.get()
        assert (entitlement.billing_account_id, entitlement.created_by.username) == (
            main.pk, "carol")
        assert [actor_of(e) for e in events_of(Entitlement, entitlement.pk)] == ["carol"]


def test_only_an_org_admin_accepts_offers_and_only_for_its_own_accounts(beta, world,
                                                                        pro_offer):
    from accounts.models import Entitlement

    with inside(beta):
        main = world.mars.billing_accounts.get(name="Main")
        venus_account = world.venus.billing_accounts.get()
    dave = signed_in(beta, "dave")
    assert b"offers/pro/preview" not in dave.get("/orgs/mars-corp/").content
    assert dave.post("/orgs/mars-corp/offers/pro/accept/",
                     {"billing_account": main.pk, "confirm": "yes"}).status_code == 404
    assert signed_in(beta, "vera").post("/orgs/mars-corp/offers/pro/accept/",
                                        {"billing_account": main.pk, "confirm": "yes"}
                                        ).status_code == 404
    # An account of another organization is not a choice.
    carol = signed_in(beta, "carol")
    response = carol.post("/orgs/mars-corp/offers/pro/accept/",
                          {"billing_account": venus_account.pk, "confirm": "yes"})
    assert response.status_code == 302
    with inside(beta):
        assert not Entitlement.objects.exists()


# --- budgets ---------------------------------------------------------------------------


def test_budgets_and_their_alerts_show_against_this_cycles_spend(beta, world):
    from budgets.models import Budget, BudgetAlert, BudgetScope

    now = datetime(2020, 10, 11, tzinfo=UTC)
    with inside(beta):
        budget = Budget.objects.create(
            name="Mars monthly", scope=BudgetScope.ORGANIZATION, organization=world.mars,
            amount=Decimal("5000"), thresholds=[50, 80, 100], created_at=now, updated_at=now)
        BudgetAlert.objects.create(
            budget=budget, cycle=world.october, threshold=80, recipient="carol@example.com",
            spend=Decimal("4752.00"), budget_amount=Decimal("5000"), currency="USD",
            outbox_key="budget:test:80", created_at=now)
        Budget.objects.create(
            name="Adventure", scope=BudgetScope.PROJECT, project=world.adventure,
            amount=Decimal("4000"), thresholds=[100], created_at=now, updated_at=now)
    org_page = signed_in(beta, "dave").get("/orgs/mars-corp/" + OCT)
    (view,) = org_page.context["budgets"]
    assert (view.budget.name, view.spend, view.percent, view.crossed) == (
        "Mars monthly", Decimal("4752.00"), Decimal("95.0"), [50, 80])
    assert [a.recipient for a in view.alerts] == ["carol@example.com"]
    assert "80% crossed at $4,752.00, told carol@example.com" in org_page.content.decode()
    project_page = signed_in(beta, "erin").get("/projects/adventure/" + OCT)
    (view,) = project_page.context["budgets"]
    assert (view.budget.name, view.percent, view.crossed) == ("Adventure", Decimal("108.0"),
                                                              [100])
    assert b"Mars monthly" not in project_page.content
