"""The budgets admin: pages render, writes go through the services (with their audit
rows), refusals are form errors, and history is read-only."""

import re
from decimal import Decimal

import pytest

from audit.tracking import DELETE, INSERT, UPDATE
from budgets.models import Budget
from budgets.services import RECIPIENT_USER_CANNOT_SEE
from notifications.models import WebhookDelivery, WebhookStatus
from notifications.services import notification_preference_set
from tests.audit.support import actor_of, events_of
from tests.budgets.support import NOW, project_budget, rate_open_cycles, seed_world
from tests.conftest import host_client, inside, sign_in


@pytest.fixture
def admin_client(beta):
    client = host_client(beta)
    assert sign_in(client, "bob")
    return client


@pytest.fixture
def world(beta):
    with inside(beta):
        world = seed_world()
        budget = project_budget(world, users=["orgviewer"], webhook_url="https://h.example/x",
                                webhook_secret="0123456789abcdef")
        rate_open_cycles(now=NOW)
        notification_preference_set(user=world["orgviewer"], organization=world["org"],
                                    invoice_email=False, now=NOW)
        return {**world, "budget": budget}


def _page(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.content.decode()


def _inlines(initial_alerts: int) -> dict:
    data = {}
    for prefix, initial in (("alerts", initial_alerts),):
        data.update({f"{prefix}-TOTAL_FORMS": str(initial),
                     f"{prefix}-INITIAL_FORMS": str(initial),
                     f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    return data


def test_every_budgets_admin_page_renders(admin_client, world, beta):
    budget = world["budget"]
    listing = _page(admin_client, "/admin/budgets/budget/")
    assert "Adventure monthly" in listing and "50%, 80%, 100%" in listing
    change = _page(admin_client, f"/admin/budgets/budget/{budget.pk}/change/")
    assert "fin@mars.example" in change and "2160.00" in change
    assert "0123456789abcdef" not in change  # the secret is never shown
    _page(admin_client, "/admin/budgets/budget/add/")
    assert "orgviewer@example.com" in _page(admin_client, "/admin/budgets/budgetalert/")
    assert "https://h.example/x" in _page(admin_client,
                                          "/admin/notifications/webhookdelivery/")
    assert "2020-10 · 50% · Pending" in change  # the budget's own deliveries
    with inside(beta):
        delivery = WebhookDelivery.objects.first()
        alert = budget.alerts.first()
    _page(admin_client, f"/admin/notifications/webhookdelivery/{delivery.pk}/change/")
    _page(admin_client, f"/admin/budgets/budgetalert/{alert.pk}/change/")
    _page(admin_client, f"/admin/audit/auditevent/?object=budgets.budget:{budget.pk}")
    history = admin_client.get(f"/admin/budgets/budget/{budget.pk}/history/")
    assert history["Location"].endswith(f"?object=budgets.budget%3A{budget.pk}")
    assert "orgviewer" in _page(admin_client, "/admin/notifications/notificationpreference/")
    assert admin_client.get("/admin/budgets/budgetalert/add/").status_code == 403


def test_adding_a_budget_goes_through_the_service(admin_client, world, beta):
    response = admin_client.post("/admin/budgets/budget/add/", {
        "scope": "organization", "organization": world["org"].pk, "project": "",
        "name": "Mars total", "amount": "5000.00", "thresholds": "80, 50",
        "recipient_users": [world["orgadmin"].pk], "recipient_emails": "AP@mars.example\n",
        "webhook_url": "", "webhook_secret": "",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    with inside(beta):
        budget = Budget.objects.get(name="Mars total")
        assert (budget.scope, budget.organization, budget.project, budget.amount,
                budget.thresholds) == ("organization", world["org"], None, Decimal("5000.00"),
                                       [50, 80])
        assert sorted(str(r) for r in budget.recipients.all()) == ["ap@mars.example",
                                                                    "orgadmin"]
        [change] = events_of(Budget, budget.pk)
        assert (change.pgh_label, actor_of(change)) == (INSERT, "bob")


def test_refusals_are_form_errors(admin_client, world, beta):
    response = admin_client.post("/admin/budgets/budget/add/", {
        "scope": "project", "organization": "", "project": world["project"].pk,
        "name": "Nope", "amount": "100", "thresholds": "50, lots",
        "recipient_users": [], "recipient_emails": "", "webhook_url": "", "webhook_secret": "",
    })
    assert response.status_code == 200
    assert "whole percentages separated by commas" in response.content.decode()
    response = admin_client.post("/admin/budgets/budget/add/", {
        "scope": "project", "organization": "", "project": world["project"].pk,
        "name": "Nope", "amount": "100", "thresholds": "50",
        "recipient_users": [world["nobody"].pk], "recipient_emails": "",
        "webhook_url": "", "webhook_secret": "",
    })
    assert response.status_code == 200
    html = response.content.decode()
    expected = RECIPIENT_USER_CANNOT_SEE.format(username="nobody", scope="project",
                                                name="adventure")
    assert expected.replace("'", "&#x27;") in html
    response = admin_client.post("/admin/budgets/budget/add/", {
        "scope": "project", "organization": world["org"].pk, "project": "",
        "name": "Nope", "amount": "100", "thresholds": "50", "recipient_emails": "a@b.example",
    })
    assert "choose the project this budget is for" in response.content.decode()
    with inside(beta):
        assert not Budget.objects.filter(name="Nope").exists()


def test_changing_a_budget_keeps_its_secret_and_writes_the_audit_row(admin_client, world, beta):
    budget = world["budget"]
    with inside(beta):
        alerts = budget.alerts.count()
    response = admin_client.post(f"/admin/budgets/budget/{budget.pk}/change/", {
        "name": "Adventure (admin)", "amount": "3000.00", "thresholds": "75",
        "recipient_users": [], "recipient_emails": "fin@mars.example",
        "webhook_url": "https://h.example/y", "webhook_secret": "",
        **_inlines(alerts),
    })
    assert response.status_code == 302, re.findall(r'errorlist[^<]*<li>([^<]*)',
                                                    response.content.decode())
    with inside(beta):
        budget.refresh_from_db()
        assert (budget.name, budget.amount, budget.thresholds, budget.webhook_url,
                budget.webhook_secret) == ("Adventure (admin)", Decimal("3000.00"), [75],
                                           "https://h.example/y", "0123456789abcdef")
        assert [str(r) for r in budget.recipients.all()] == ["fin@mars.example"]
        assert [e.pgh_label for e in events_of(Budget, budget.pk)].count(UPDATE) == 1
        assert budget.alerts.count() == alerts  # history stays


def test_deleting_a_budget_keeps_the_audit_trail(admin_client, world, beta):
    budget = world["budget"]
    response = admin_client.post(f"/admin/budgets/budget/{budget.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    with inside(beta):
        assert not Budget.objects.filter(pk=budget.pk).exists()
        assert DELETE in [e.pgh_label for e in events_of(Budget, budget.pk)]


def test_retry_action_requeues_failed_deliveries(admin_client, world, beta):
    with inside(beta):
        failed = WebhookDelivery.objects.order_by("details__threshold").first()
        WebhookDelivery.objects.filter(pk=failed.pk).update(
            status=WebhookStatus.FAILED, attempts=6, last_error="HTTP 500")
        others = list(WebhookDelivery.objects.exclude(pk=failed.pk)
                      .values_list("pk", flat=True))
    response = admin_client.post("/admin/notifications/webhookdelivery/", {
        "action": "retry_failed", "_selected_action": [failed.pk, *others],
        "confirmed": "yes"}, follow=True)
    assert "1 deliveries queued again; 1 were not failed" in response.content.decode()
    with inside(beta):
        failed.refresh_from_db()
        assert (failed.status, failed.attempts) == (WebhookStatus.PENDING, 0)
