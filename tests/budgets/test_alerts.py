"""Budget alerts after rating runs: one email per recipient per threshold per cycle,
through the invoice outbox, written with its alert row; re-runs send nothing new."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core import mail

from accounts.models import Role, RoleGrant
from audit.tracking import DELETE, INSERT, UPDATE
from budgets import alerts
from budgets.alerts import alert_key, budget_alerts_evaluate
from budgets.models import Budget, BudgetAlert, BudgetRecipient
from budgets.services import (
    NOBODY_NOTIFIED,
    RECIPIENT_USER_CANNOT_SEE,
    THRESHOLDS_REQUIRED,
    budget_create,
    budget_delete,
    budget_update,
)
from cycles.models import BillingCycle
from invoicing.rating_run import rating_run
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import outbox_deliver
from notifications.services import notification_preference_set
from tenancy import jobs
from tests.audit.support import actor_of, events_of
from tests.budgets.support import (
    NOW,
    TEN_DAYS,
    grant,
    make_user,
    project_budget,
    rate_open_cycles,
    seed_world,
)
from tests.conftest import inside
from tests.factories import make_project
from tests.invoicing.builders import at, run_resource


def _outbox():
    return list(OutboxMessage.objects.filter(key__startswith="budget:").order_by("key"))


def test_crossing_50_and_80_in_one_rating_run_sends_two_emails_once(beta):
    with inside(beta):
        world = seed_world()
        budget = project_budget(world)

        results = rate_open_cycles(now=NOW)

        assert [r.cycle for r in results] == ["2020-10"]  # the return value is unchanged
        messages = _outbox()
        assert [m.key for m in messages] == [
            f"budget:{budget.pk}:2020-10:50:fin@mars.example",
            f"budget:{budget.pk}:2020-10:80:fin@mars.example",
        ]
        fifty, eighty = messages
        assert {m.to for m in messages} == {"fin@mars.example"}
        assert fifty.subject == ('Budget "Adventure monthly" for project adventure: '
                                 "50% reached in 2020-10")
        assert eighty.subject.endswith("80% reached in 2020-10")
        assert "2160.00 USD of 2500.00 USD (86.4%)" in eighty.text
        assert "<strong>80%</strong>" in eighty.html and "2160.00 USD" in eighty.html
        assert all(m.status == OutboxStatus.PENDING for m in messages)
        alerts = list(BudgetAlert.objects.order_by("threshold"))
        assert [(a.threshold, a.recipient, a.spend, a.budget_amount, a.currency)
                for a in alerts] == [
            (50, "fin@mars.example", TEN_DAYS, Decimal("2500.00"), "USD"),
            (80, "fin@mars.example", TEN_DAYS, Decimal("2500.00"), "USD"),
        ]
        assert [a.outbox_key for a in alerts] == [m.key for m in messages]

        # The same run again, and a later one still under 100 %: nothing new.
        rate_open_cycles(now=NOW)
        rate_open_cycles(now=at(2020, 10, 11, 12))
        assert [m.key for m in _outbox()] == [m.key for m in messages]
        assert BudgetAlert.objects.count() == 2

        # 12 days cost 2592.00: past 100 %, one more email, for 100 only.
        rate_open_cycles(now=at(2020, 10, 13))
        assert [m.key.split(":")[3] for m in _outbox()] == ["100", "50", "80"]
        assert BudgetAlert.objects.get(threshold=100).spend == Decimal("2592.00")


def test_the_outbox_delivers_each_alert_email_once(beta, mailoutbox):
    with inside(beta):
        world = seed_world()
        project_budget(world)
        rate_open_cycles(now=NOW)

        for message in _outbox():
            assert outbox_deliver(message_id=message.pk, now=NOW) is True
            assert outbox_deliver(message_id=message.pk, now=NOW) is False  # already sent
        rate_open_cycles(now=NOW)

        assert sorted(m.subject for m in mail.outbox) == [
            'Budget "Adventure monthly" for project adventure: 50% reached in 2020-10',
            'Budget "Adventure monthly" for project adventure: 80% reached in 2020-10',
        ]
        assert all(m.to == ["fin@mars.example"] for m in mail.outbox)
        html = mail.outbox[0].alternatives[0]
        assert html[1] == "text/html" and "Adventure monthly" in html[0]
        assert {m.status for m in _outbox()} == {OutboxStatus.SENT}


def test_each_recipient_gets_one_email_per_threshold(beta):
    with inside(beta):
        world = seed_world()
        # projviewer's address is also listed: one recipient, one email per threshold.
        budget = project_budget(world, users=["projviewer", "orgviewer"],
                                emails=["fin@mars.example", "ProjViewer@Example.com"])

        rate_open_cycles(now=NOW)
        rate_open_cycles(now=NOW)

        assert sorted((a.threshold, a.recipient, a.user_id) for a in
                      BudgetAlert.objects.filter(budget=budget)) == [
            (50, "fin@mars.example", None),
            (50, "orgviewer@example.com", world["orgviewer"].pk),
            (50, "projviewer@example.com", world["projviewer"].pk),
            (80, "fin@mars.example", None),
            (80, "orgviewer@example.com", world["orgviewer"].pk),
            (80, "projviewer@example.com", world["projviewer"].pk),
        ]
        assert len(_outbox()) == 6
        assert alert_key(budget_id=budget.pk, cycle_label="2020-10", threshold=80,
                         recipient="orgviewer@example.com") in {m.key for m in _outbox()}


def test_the_work_is_queued_only_after_commit(beta, django_capture_on_commit_callbacks,
                                              monkeypatch):
    with inside(beta):
        world = seed_world()
        project_budget(world)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            rate_open_cycles(now=NOW)
        # Nothing is queued before the transaction commits; then the budget check the
        # rating run asked for, and one delivery task per outbox email.
        sent = []
        monkeypatch.setattr(jobs, "current_app", SimpleNamespace(
            send_task=lambda name, args, headers, countdown: sent.append(
                (name, headers["_schema_name"]))))
        for callback in callbacks:
            callback()
        assert sorted(sent) == [("budgets.tasks.budget_alerts_evaluate", "beta"),
                                ("notifications.tasks.outbox_deliver", "beta"),
                                ("notifications.tasks.outbox_deliver", "beta")]


def test_an_organization_budget_sums_its_projects(beta):
    with inside(beta):
        world = seed_world()
        other = make_project("research", world["org"])
        vm = run_resource("i-r1", world["instance"], "4cpu-16gb", other, since=at(2020, 9, 1))
        run_resource("d-r1", world["disk"], "500gb", other, since=at(2020, 9, 1), parent=vm)
        budget = budget_create(organization=world["org"], name="Mars total",
                               amount=Decimal("5000.00"), thresholds=[50, 80, 100],
                               recipient_usernames=["orgadmin"], actor=world["orgadmin"],
                               now=NOW)
        # Each project alone (2160.00) is 43.2 % of it; together 4320.00 is 86.4 %.
        rate_open_cycles(now=NOW)

        alerts = BudgetAlert.objects.filter(budget=budget).order_by("threshold")
        assert [(a.threshold, a.spend, a.recipient) for a in alerts] == [
            (50, Decimal("4320.00"), "orgadmin@example.com"),
            (80, Decimal("4320.00"), "orgadmin@example.com"),
        ]
        assert "organization Mars Corp" in _outbox()[0].subject


def test_a_project_budget_ignores_other_projects(beta):
    with inside(beta):
        world = seed_world()
        other = make_project("research", world["org"])
        for i in range(5):
            run_resource(f"i-r{i}", world["instance"], "4cpu-16gb", other, since=at(2020, 9, 1))
        project_budget(world, amount="4000.00")  # adventure alone: 54 %

        rate_open_cycles(now=NOW)

        assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50]


def test_users_who_opted_out_or_lost_access_are_not_emailed(beta):
    with inside(beta):
        world = seed_world()
        budget = project_budget(world, users=["projviewer", "orgviewer", "orgadmin"], emails=[])
        notification_preference_set(user=world["orgviewer"], organization=world["org"],
                                    budget_email=False, now=NOW)
        # orgadmin turned budget email off for the org but on for this project: emailed.
        notification_preference_set(user=world["orgadmin"], organization=world["org"],
                                    budget_email=False, now=NOW)
        notification_preference_set(user=world["orgadmin"], project=world["project"],
                                    budget_email=True, now=NOW)
        RoleGrant.objects.filter(user=world["projviewer"]).delete()

        rate_open_cycles(now=NOW)

        assert sorted(set(BudgetAlert.objects.filter(budget=budget)
                          .values_list("recipient", flat=True))) == ["orgadmin@example.com"]


def test_a_rerun_after_new_recipients_emails_only_them(beta):
    with inside(beta):
        world = seed_world()
        budget = project_budget(world)
        rate_open_cycles(now=NOW)
        budget_update(budget=budget, name=budget.name, amount=budget.amount,
                      thresholds=budget.thresholds, recipient_usernames=["orgviewer"],
                      recipient_emails=["fin@mars.example"], actor=world["orgviewer"],
                      now=NOW)

        rate_open_cycles(now=NOW)

        assert sorted(m.key.split(":", 3)[3] for m in _outbox()) == [
            "50:fin@mars.example", "50:orgviewer@example.com",
            "80:fin@mars.example", "80:orgviewer@example.com",
        ]


def test_each_cycle_alerts_on_its_own(beta):
    with inside(beta):
        world = seed_world()
        budget = project_budget(world, amount="3000.00", thresholds=[50])
        rate_open_cycles(now=at(2020, 10, 10))  # 1944.00: 64.8 %
        september = BillingCycle.objects.create(start=at(2020, 9, 1), end=at(2020, 10, 1),
                                                label="2020-09")
        rating_run(cycle=september, now=at(2020, 10, 1))  # 30 days: 6480.00

        evaluation = budget_alerts_evaluate(cycle=september, now=at(2020, 10, 1))

        assert (evaluation.alerts, evaluation.webhooks) == (1, 0)
        assert sorted(BudgetAlert.objects.filter(budget=budget).values_list(
            "cycle__label", "threshold", "spend")) == [
            ("2020-09", 50, Decimal("6480.00")), ("2020-10", 50, Decimal("1944.00"))]


def test_evaluate_reports_what_it_sent_and_is_idempotent(beta):
    with inside(beta):
        world = seed_world()
        project_budget(world)
        october = BillingCycle.objects.create(start=at(2020, 10, 1), end=at(2020, 11, 1),
                                              label="2020-10")
        rating_run(cycle=october, now=NOW)

        first = budget_alerts_evaluate(cycle=october, now=NOW)
        second = budget_alerts_evaluate(cycle=october, now=NOW)

        assert (first.budgets, first.alerts, first.webhooks) == (1, 2, 0)
        assert (second.budgets, second.alerts, second.webhooks) == (1, 0, 0)


# --- budgets: checks and audit ----------------------------------------------------------


def test_create_update_delete_write_the_audit_trail(beta):
    with inside(beta):
        world = seed_world()
        budget = project_budget(world, users=["orgviewer"])
        budget_update(budget=budget, name="Renamed", amount="3000", thresholds=[90, 50],
                      recipient_usernames=[], recipient_emails=["a@b.example"],
                      actor=world["orgadmin"], now=NOW)
        budget.refresh_from_db()
        assert (budget.name, budget.amount, budget.thresholds) == (
            "Renamed", Decimal("3000.00"), [50, 90])
        budget_pk = budget.pk
        budget_delete(budget=budget, actor=world["orgadmin"], now=NOW)
        budget_delete(budget=budget, actor=world["orgadmin"], now=NOW)  # already gone: no-op

        changes = events_of(Budget, budget_pk)
        assert [(c.pgh_label, actor_of(c)) for c in changes] == [
            (INSERT, "projviewer"), (UPDATE, "orgadmin"), (DELETE, "orgadmin"),
        ]
        created = changes[0]
        assert (created.name, created.scope, created.organization_id, created.project.name,
                created.amount, created.thresholds, created.webhook_url) == (
            "Adventure monthly", "project", None, "adventure", Decimal("2500.00"),
            [50, 80, 100], "")
        assert _recipients_after(changes[0]) == (["orgviewer"], ["fin@mars.example"])
        assert _recipients_after(changes[1]) == ([], ["a@b.example"])
        assert not Budget.objects.filter(pk=budget_pk).exists()


def _recipients_after(budget_event) -> tuple[list[str], list[str]]:
    """The budget's recipients (users, emails) once the service call that wrote
    `budget_event` was done: its recipients' audit events replayed up to that call's."""
    events = list(BudgetRecipient.pgh_event_model.objects.filter(
        budget_id=budget_event.pgh_obj_id).order_by("pgh_id"))
    last = max(i for i, e in enumerate(events) if e.pgh_context_id == budget_event.pgh_context_id)
    recipients: dict[int, object] = {}
    for event in events[:last + 1]:
        if event.pgh_label == DELETE:
            recipients.pop(event.pgh_obj_id, None)
        else:
            recipients[event.pgh_obj_id] = event
    users = sorted(r.user.username for r in recipients.values() if r.user_id)
    return users, sorted(r.email for r in recipients.values() if r.email)


def test_budget_checks_refuse_with_reasons(beta):
    with inside(beta):
        world = seed_world()
        with pytest.raises(Exception) as refused:
            budget_create(project=world["project"], name="x", amount=Decimal("100"),
                          thresholds=[], recipient_usernames=["nobody"],
                          actor=world["projviewer"], now=NOW)
        errors = refused.value.message_dict
        assert errors["thresholds"] == [THRESHOLDS_REQUIRED]
        assert errors["recipient_users"] == [RECIPIENT_USER_CANNOT_SEE.format(
            username="nobody", scope="project", name="adventure")]
        with pytest.raises(Exception) as nobody:
            budget_create(project=world["project"], name="x", amount=Decimal("100"),
                          thresholds=[50], actor=world["projviewer"], now=NOW)
        assert nobody.value.message_dict == {"recipient_users": [NOBODY_NOTIFIED]}
        assert not Budget.pgh_event_model.objects.filter(name="x").exists()


def test_a_user_without_an_address_cannot_be_a_recipient(beta):
    with inside(beta):
        world = seed_world()
        silent = make_user("silent", email="")
        grant(silent, Role.PROJECT_BILLING_VIEWER, project=world["project"])
        with pytest.raises(Exception) as refused:
            project_budget(world, users=["silent"])
        assert "has no email address" in refused.value.message_dict["recipient_users"][0]


def test_a_failing_budget_neither_stops_the_others_nor_the_rating(beta, monkeypatch):
    with inside(beta):
        world = seed_world()
        broken = project_budget(world)
        fine = budget_create(organization=world["org"], name="Mars total",
                             amount=Decimal("2000.00"), thresholds=[100],
                             recipient_emails=["ap@mars.example"], actor=None, now=NOW)
        real_enqueue = alerts.outbox_enqueue

        def enqueue(**kwargs):
            if kwargs["key"].startswith(f"budget:{broken.pk}:"):
                raise RuntimeError("SMTP config exploded")
            return real_enqueue(**kwargs)

        monkeypatch.setattr(alerts, "outbox_enqueue", enqueue)
        results = rate_open_cycles(now=NOW)

        assert [r.cycle for r in results] == ["2020-10"]
        assert list(BudgetAlert.objects.values_list("budget_id", "threshold")) == [(fine.pk, 100)]
        assert [m.key for m in _outbox()] == [f"budget:{fine.pk}:2020-10:100:ap@mars.example"]

        monkeypatch.setattr(alerts, "outbox_enqueue", real_enqueue)
        rate_open_cycles(now=NOW)  # fixed: the next run sends what was missing, once
        assert sorted(BudgetAlert.objects.values_list("budget_id", "threshold")) == [
            (broken.pk, 50), (broken.pk, 80), (fine.pk, 100)]
        assert len(_outbox()) == 3
