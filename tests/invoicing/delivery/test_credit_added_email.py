"""Adding a credit emails the people of its scope who want to hear, over SMTP, with a
one-click unsubscribe; a user who turned "credit added" off gets none."""

from datetime import UTC, datetime

from django.contrib.auth import get_user_model

from accounts.models import Role, RoleGrant
from invoicing.credit_email import credit_added_key
from invoicing.credits import credit_create
from notifications.models import NotificationPreference, OutboxMessage
from notifications.outbox import outbox_deliver
from notifications.services import notification_preference_set
from notifications.unsubscribe import unsubscribe_apply
from tests.conftest import inside
from tests.factories import make_org, make_project
from tests.invoicing.delivery.conftest import bodies, later

START = datetime(2020, 10, 15, 23, 0, tzinfo=UTC)
END = datetime(2020, 10, 16, 4, 30, tzinfo=UTC)


def _person(username: str, role: str, **scope):
    user = get_user_model().objects.create_user(username=username,
                                                email=f"{username}@credit.test")
    RoleGrant.objects.create(user=user, role=role, **scope)
    return user


def test_a_credit_emails_its_scope_once_and_not_who_turned_it_off(
        alpha, mailbox, django_capture_on_commit_callbacks):
    with inside(alpha):
        org = make_org("outage-corp")
        project = make_project("rack-7", org)
        _person("admin-keen", Role.ORG_ADMIN, organization=org)
        quiet = _person("viewer-quiet", Role.ORG_BILLING_VIEWER, organization=org)
        _person("proj-viewer", Role.PROJECT_BILLING_VIEWER, project=project)
        _person("elsewhere", Role.ORG_ADMIN, organization=make_org("other-corp"))
        notification_preference_set(user=quiet, organization=org, credit_email=False,
                                    now=later(0))

        with django_capture_on_commit_callbacks(execute=False) as queued:
            credit = credit_create(name="Rack 7 outage", description="Power loss in rack 7",
                                   window_start=START, window_end=END, project=project)
        sent = OutboxMessage.objects.filter(key__startswith=f"credit-added:{credit.pk}:")
        assert sorted(sent.values_list("to", flat=True)) == [
            "admin-keen@credit.test", "proj-viewer@credit.test"]
        assert len(queued) == 2  # one delivery per message, after the credit commits
        assert sent.get(to="proj-viewer@credit.test").unsubscribe == {
            "kind": "credit", "project": project.pk}
        admin_message = sent.get(to="admin-keen@credit.test")
        assert admin_message.key == credit_added_key(credit_id=credit.pk,
                                                     email="admin-keen@credit.test")
        assert admin_message.unsubscribe == {"kind": "credit", "organization": org.pk}
        for message in sent:
            assert outbox_deliver(message_id=message.pk, now=later(1)) is True

        # Its one-click unsubscribe turns off credit emails only, for that admin.
        unsubscribe_apply(message=admin_message, now=later(2))
        keen = NotificationPreference.objects.get(user__username="admin-keen")
        assert not keen.credit_email and keen.invoice_email and keen.payment_email
        second = credit_create(name="Rack 7 again", description="Second outage",
                               window_start=START, window_end=END, organization=org)
        assert not OutboxMessage.objects.filter(key__startswith=f"credit-added:{second.pk}:")

    assert sorted(m["To"] for m in mailbox.messages) == [
        "admin-keen@credit.test", "proj-viewer@credit.test"]
    received = mailbox.to("admin-keen@credit.test")[0]
    assert received["Subject"] == "Credit added to project rack-7: Rack 7 outage"
    assert received["List-Unsubscribe"].strip().startswith("<http://alpha.localhost")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = bodies(received)["text/plain"].replace("\r\n", "\n")
    assert text.startswith("A credit was added to project rack-7: Rack 7 outage.\n"
                           "Power loss in rack 7\n")
    # The window in the provider's zone (alpha bills in Pacific/Auckland).
    assert "during 16 Oct 2020, 12:00–17:30 (Pacific/Auckland)" in text
    assert "negative line on your upcoming invoice" in text
    assert "/projects/rack-7/" in text
    assert "Rack 7 outage" in bodies(received)["text/html"]
