"""Consumers serve themselves: budgets set from the pages (org admins and viewers on
their organization, project viewers on their project), with forecast crossings;
notification preferences; one-click unsubscribe in emails; API keys shown once."""

from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core import mail

from budgets.alerts import budget_alerts_evaluate
from budgets.models import Budget, BudgetAlert, BudgetRecipient
from dashboards.selectors.budget_status import forecast_crossings
from notifications.models import NotificationPreference, OutboxMessage
from notifications.outbox import _build_email, outbox_enqueue
from tests.conftest import host_client, inside
from tests.dashboards.conftest import signed_in
from tests.dashboards.world import RATED_UNTIL


def _emails(provider, **addresses):
    with inside(provider):
        for username, email in addresses.items():
            get_user_model().objects.filter(username=username).update(email=email)


def test_at_todays_rate_the_budget_says_the_day_each_threshold_is_passed():
    budget = Budget(name="Monthly", amount=Decimal("100"), thresholds=[50, 80, 100])
    since = datetime(2026, 12, 11, tzinfo=UTC)
    crossings = forecast_crossings(budget=budget, spend=Decimal("40"),
                                   forecast=Decimal("140"), since=since,
                                   end=datetime(2027, 1, 1, tzinfo=UTC))
    # 100 more over 21 days: 50% after 2.1 days, 80% after 8.4, 100% after 12.6.
    assert [(c.threshold, c.at) for c in crossings] == [
        (50, datetime(2026, 12, 13, 2, 24, tzinfo=UTC)),
        (80, datetime(2026, 12, 19, 9, 36, tzinfo=UTC)),
        (100, datetime(2026, 12, 23, 14, 24, tzinfo=UTC)),
    ]
    assert forecast_crossings(budget=budget, spend=Decimal("90"), forecast=Decimal("90"),
                              since=since, end=datetime(2027, 1, 1, tzinfo=UTC)) == []


def test_budgets_are_set_and_removed_from_the_pages_by_whoever_sees_the_scope(beta, world):
    _emails(beta, carol="carol@mars.test")
    carol = signed_in(beta, "carol")
    response = carol.post("/orgs/mars-corp/budgets/", {
        "name": "Mars monthly", "amount": "5000", "thresholds": "50, 80, 100",
        "notify_me": "on", "emails": "finance@mars.test"})
    assert response.status_code == 302 and response["Location"].endswith("#budgets")
    page = carol.get("/orgs/mars-corp/").content.decode()
    assert "Budget Mars monthly set: alerts at 50%, 80%, 100%." in page, page[
        page.find('<main'):page.find('<main') + 1500]
    assert 'data-budget="Mars monthly"' in page
    # A project viewer sets one on their project, and on no other.
    erin = signed_in(beta, "erin")
    assert erin.post("/projects/adventure/budgets/", {
        "name": "Adventure", "amount": "100", "thresholds": "100",
        "emails": "erin@adventure.test"}).status_code == 302
    assert erin.post("/projects/secret-lab/budgets/", {
        "name": "Nope", "amount": "1", "thresholds": "100"}).status_code == 404
    assert signed_in(beta, "frank").post("/orgs/mars-corp/budgets/", {
        "name": "Nope", "amount": "1", "thresholds": "100"}).status_code == 404
    # The service's reasons come back: a threshold out of range.
    carol.post("/orgs/mars-corp/budgets/", {"name": "Bad", "amount": "1",
                                            "thresholds": "0"})
    assert "Budget not set" in carol.get("/orgs/mars-corp/").content.decode()
    with inside(beta):
        mars = Budget.objects.get(name="Mars monthly")
        assert sorted(str(r) for r in mars.recipients.all()) == ["carol", "finance@mars.test"]
        assert Budget.objects.get(name="Adventure").project.name == "adventure"
        assert not Budget.objects.filter(name__in=["Nope", "Bad"]).exists()
    assert carol.post(f"/budgets/{mars.pk}/remove/").status_code == 302
    with inside(beta):
        assert not Budget.objects.filter(name="Mars monthly").exists()


def test_preferences_page_changes_which_budget_emails_come(beta, world):
    _emails(beta, carol="carol@mars.test")
    carol = signed_in(beta, "carol")
    carol.post("/orgs/mars-corp/budgets/", {"name": "Tiny", "amount": "1",
                                            "thresholds": "50, 100", "notify_me": "on"})
    page = carol.get("/account/notifications/").content.decode()
    assert 'data-scope="organization:mars-corp"' in page
    with inside(beta):
        mars_id = world.mars.pk
    saved = carol.post("/account/notifications/", {
        "scope": f"organization:{mars_id}", "invoice_email": "on", "budget_email": "on",
        "budget_min_threshold": "100"})
    assert saved.status_code == 302
    with inside(beta):
        row = NotificationPreference.objects.get(user__username="carol")
        assert (row.invoice_email, row.budget_email, row.budget_min_threshold) == (
            True, True, 100)
        budget_alerts_evaluate(cycle=world.october, now=RATED_UNTIL)
        sent = list(OutboxMessage.objects.filter(to="carol@mars.test")
                    .values_list("subject", flat=True))
    # Spend is far past both thresholds: only the 100% one reaches carol.
    assert len(sent) == 1 and "100% reached" in sent[0]


def test_every_budget_email_has_a_one_click_unsubscribe_that_turns_it_off(beta, world,
                                                                          settings):
    settings.TALLY_LINK_BASE = "http://{host}"
    _emails(beta, carol="carol@mars.test")
    with inside(beta):
        budget = Budget.objects.create(
            name="Mars", scope="organization", organization=world.mars,
            amount=Decimal("1"), thresholds=[100], created_at=RATED_UNTIL,
            updated_at=RATED_UNTIL)
        BudgetRecipient.objects.create(budget=budget, user=get_user_model().objects.get(
            username="carol"))
        BudgetRecipient.objects.create(budget=budget, email="finance@mars.test")
        budget_alerts_evaluate(cycle=world.october, now=RATED_UNTIL)
        messages = list(OutboxMessage.objects.order_by("to"))
        assert [m.to for m in messages] == ["carol@mars.test", "finance@mars.test"]
        emails = [_build_email(m) for m in messages]
    for email in emails:
        assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = email.extra_headers["List-Unsubscribe"].strip("<>")
        assert link.startswith("http://beta.localhost/unsubscribe/")
        assert link in email.body
        # The mail client's one-click POST: no session, no CSRF token.
        path = link.removeprefix("http://beta.localhost")
        assert host_client(beta).get(path).status_code == 200
        done = host_client(beta).post(path, "List-Unsubscribe=One-Click",
                                      content_type="application/x-www-form-urlencoded")
        assert done.status_code == 200 and b"gets no more budget emails" in done.content
    assert host_client(beta).post("/unsubscribe/forged/").status_code == 404
    with inside(beta):
        assert NotificationPreference.objects.get(user__username="carol").budget_email is False
        assert [str(r) for r in budget.recipients.all()] == ["carol"]
        OutboxMessage.objects.all().delete()
        BudgetAlert.objects.all().delete()
        budget_alerts_evaluate(cycle=world.october, now=RATED_UNTIL)
        assert not OutboxMessage.objects.exists()  # nobody wants it any more


def test_invoice_emails_carry_the_unsubscribe_headers_too(beta, world, settings):
    settings.TALLY_LINK_BASE = "https://{host}"
    with inside(beta):
        message = outbox_enqueue(key="k", to="a@b.test", subject="Invoice", text="Hi",
                                 html="<html><body><p>Hi</p></body></html>",
                                 unsubscribe={"kind": "invoice",
                                              "organization": world.mars.pk})
        email = _build_email(message)
        plain = _build_email(outbox_enqueue(key="k2", to="a@b.test", subject="S", text="T"))
    assert email.extra_headers["List-Unsubscribe"].startswith("<https://beta.localhost/")
    assert "Unsubscribe from these emails" in email.alternatives[0][0]
    assert "List-Unsubscribe" not in plain.extra_headers  # only the Message-ID
    assert mail.outbox == []


def test_org_admins_create_api_keys_shown_once_and_revoke_them(beta, world):
    carol = signed_in(beta, "carol")
    posted = carol.post("/account/api-keys/", {"name": "ci"})
    assert posted.status_code == 302  # a reload never creates a second key
    created = carol.get("/account/")
    assert created["Cache-Control"] == "no-store"
    secret = created.context["issued"]["secret"]
    assert secret in created.content.decode()
    assert secret not in carol.get("/account/").content.decode()  # shown once
    whoami = host_client(beta).get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert whoami.status_code == 200 and whoami.json()["username"] == "carol"
    # A billing viewer does not create keys.
    assert signed_in(beta, "dave").post("/account/api-keys/", {"name": "x"}).status_code == 404
    assert carol.post("/account/api-keys/", {"name": " "}).status_code == 400
    key_id = created.context["issued"]["id"]
    assert carol.post(f"/account/api-keys/{key_id}/revoke/").status_code == 302
    again = host_client(beta).get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert again.status_code in (401, 403)


def _created_in_the_ui(client, **form) -> str:
    assert client.post("/account/api-keys/", form).status_code == 302
    return client.get("/account/").context["issued"]["secret"]


def test_keys_created_in_the_ui_carry_their_scope_and_expiry(beta, world):
    carol = signed_in(beta, "carol")
    page = carol.get("/account/").content.decode()
    assert 'name="scope"' in page and "reads (GET) whatever your roles show" in page
    reader = _created_in_the_ui(carol, name="reports", scope="read", expires_on="2099-12-31")
    api = host_client(beta)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {reader}"}
    assert api.get("/api/v1/whoami", **bearer).status_code == 200
    refused = api.post("/api/v1/api-keys", {"name": "more", "scope": "admin"},
                       content_type="application/json", **bearer)
    assert refused.status_code == 403 and "scope (read)" in refused.content.decode()
    collector = _created_in_the_ui(carol, name="collector", scope="ingest")
    assert api.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {collector}").status_code == 403
    listed = carol.get("/account/")
    rows = {key.name: key for key in listed.context["api_keys"]}
    assert rows["reports"].scope == "read" and rows["collector"].expires_at is None
    html = listed.content.decode()
    assert "after 31 Dec 2099" in html and 'data-scope="ingest"' in html
    # A key used just now shows when; one never used says so.
    assert rows["reports"].last_used_at is not None
    assert rows["collector"].last_used_at is None  # a refused call is not a use
    # An expiry in the past or not a date is refused with the reason, and no key made.
    assert carol.post("/account/api-keys/", {"name": "old", "scope": "read",
                                             "expires_on": "2001-01-01"}).status_code == 400
    assert carol.post("/account/api-keys/", {"name": "odd", "scope": "nope"}).status_code == 400
    names = {key.name for key in carol.get("/account/").context["api_keys"]}
    assert names == {"reports", "collector"}
