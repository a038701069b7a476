"""The accounts admin: pages render, writes go through the services, refusals are form errors."""

import re
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from accounts.models import BillingAccount, Organization, Project, Role, RoleGrant
from accounts.organizations import NAME_TAKEN, billing_account_create, organization_create
from accounts.projects import MOVE_SAME_ACCOUNT, project_create
from tests.conftest import host_client, inside, sign_in

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def admin_client(beta):
    client = host_client(beta)
    assert sign_in(client, "bob")
    return client


@pytest.fixture
def mars(beta):
    with inside(beta):
        org = organization_create(name="mars", display_name="Mars", actor=None, now=NOW)
        research = billing_account_create(organization=org, name="Research",
                                          payment_kind="chargeback",
                                          contacts=["fin@mars.example"], actor=None, now=NOW)
        project = project_create(name="adventure", organization=org, actor=None,
                                 now=timezone.now())
        return {"org": org, "research": research, "project": project,
                "main": org.billing_accounts.get(name="Main")}


def _inline_management(prefix: str, initial: int) -> dict:
    return {f"{prefix}-TOTAL_FORMS": str(initial), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def _page(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.content.decode()


def test_every_accounts_admin_page_renders(admin_client, mars):
    org, account, project = mars["org"], mars["research"], mars["project"]
    org_page = _page(admin_client, f"/admin/accounts/organization/{org.pk}/change/")
    assert "Research" in org_page and "fin@mars.example" in org_page
    assert "Main" in _page(admin_client, "/admin/accounts/organization/")
    _page(admin_client, "/admin/accounts/organization/add/")
    assert "fin@mars.example" in _page(admin_client, "/admin/accounts/billingaccount/")
    _page(admin_client, f"/admin/accounts/billingaccount/{account.pk}/change/")
    _page(admin_client, "/admin/accounts/billingaccount/add/")
    listing = _page(admin_client, "/admin/accounts/project/")
    assert "adventure" in listing and "Main" in listing
    project_page = _page(admin_client, f"/admin/accounts/project/{project.pk}/change/")
    assert "billing account history" in project_page.lower()
    _page(admin_client, "/admin/accounts/project/add/")
    _page(admin_client, "/admin/accounts/rolegrant/")
    _page(admin_client, "/admin/accounts/rolegrant/add/")


def test_adding_an_organization_creates_its_default_account(beta, admin_client):
    response = admin_client.post("/admin/accounts/organization/add/", {
        "name": "venus", "display_name": "Venus", "billing_account_name": "Ops",
        "payment_kind": "chargeback"})
    assert response.status_code == 302
    with inside(beta):
        org = Organization.objects.get(name="venus")
        assert list(org.billing_accounts.values_list("name", "is_default")) == [("Ops", True)]


def test_a_duplicate_organization_is_a_form_error(beta, admin_client, mars):
    response = admin_client.post("/admin/accounts/organization/add/", {
        "name": "mars", "display_name": "Again", "billing_account_name": "Main",
        "payment_kind": "chargeback"})
    assert response.status_code == 200
    assert NAME_TAKEN.format(name="mars").replace("'", "&#x27;") in response.content.decode()
    with inside(beta):
        assert Organization.objects.filter(name="mars").count() == 1


def test_a_bad_contact_email_is_a_form_error(beta, admin_client, mars):
    response = admin_client.post("/admin/accounts/billingaccount/add/", {
        "organization": mars["org"].pk, "name": "Ops", "payment_kind": "chargeback",
        "contact_emails": "ok@mars.example\nnot-an-email"})
    assert response.status_code == 200
    assert "is not a valid email address" in response.content.decode()
    with inside(beta):
        assert not BillingAccount.objects.filter(name="Ops").exists()


def test_the_make_default_action_swaps_the_default(beta, admin_client, mars):
    chosen = {"action": "make_default", "_selected_action": [mars["research"].pk]}
    # Every admin action asks first (core/admin_confirm.py): nothing changes yet.
    asked = admin_client.post("/admin/accounts/billingaccount/", chosen)
    assert asked.status_code == 200 and "Go ahead?" in asked.content.decode()
    with inside(beta):
        assert BillingAccount.objects.get(name="Research").is_default is False
    response = admin_client.post("/admin/accounts/billingaccount/",
                                 {**chosen, "confirmed": "yes"})
    assert response.status_code == 302
    with inside(beta):
        assert dict(BillingAccount.objects.values_list("name", "is_default")) == {
            "Main": False, "Research": True}


def test_moving_a_project_in_its_change_form(beta, admin_client, mars):
    project = mars["project"]
    path = f"/admin/accounts/project/{project.pk}/change/"
    same = admin_client.post(path, {"move_to": mars["main"].pk, **_inline_management(
        "assignments", 1)})
    assert same.status_code == 200
    assert MOVE_SAME_ACCOUNT.format(account="Main").replace("'", "&#x27;") in (
        same.content.decode())
    moved = admin_client.post(path, {
        "move_to": mars["research"].pk, "move_effective_from_0": "",
        "move_effective_from_1": "", **_inline_management("assignments", 1)})
    errors = re.findall(r'errorlist[^<]*<li>([^<]*)', moved.content.decode())
    assert moved.status_code == 302, errors
    with inside(beta):
        rows = list(Project.objects.get(pk=project.pk).assignments.order_by("valid_from")
                    .values_list("billing_account__name", "valid_to"))
    assert [name for name, _ in rows] == ["Main", "Research"]
    assert rows[0][1] is not None and rows[1][1] is None


def test_a_role_grant_with_the_wrong_scope_is_a_form_error(beta, admin_client, mars):
    with inside(beta):
        from django.contrib.auth import get_user_model
        target = get_user_model().objects.create_user(username="target")
    response = admin_client.post("/admin/accounts/rolegrant/add/", {
        "user": target.pk, "role": Role.ORG_ADMIN, "project": mars["project"].pk})
    assert response.status_code == 200
    assert "an organization role needs an organization" in response.content.decode()
    response = admin_client.post("/admin/accounts/rolegrant/add/", {
        "user": target.pk, "role": Role.ORG_ADMIN, "organization": mars["org"].pk})
    assert response.status_code == 302
    with inside(beta):
        grant = RoleGrant.objects.get(user=target)
        assert (grant.role, grant.organization_id, grant.granted_by.username) == (
            Role.ORG_ADMIN, mars["org"].pk, "bob")


def test_contacts_edited_inline_go_through_the_services(beta, admin_client, mars):
    account = mars["research"]
    with inside(beta):
        contact = account.contacts.get()
    response = admin_client.post(f"/admin/accounts/billingaccount/{account.pk}/change/", {
        "name": "Research", "payment_kind": "card",
        "contacts-TOTAL_FORMS": "2", "contacts-INITIAL_FORMS": "1",
        "contacts-MIN_NUM_FORMS": "0", "contacts-MAX_NUM_FORMS": "1000",
        "contacts-0-id": contact.pk, "contacts-0-billing_account": account.pk,
        "contacts-0-email": "fin@mars.example", "contacts-0-DELETE": "on",
        "contacts-1-billing_account": account.pk, "contacts-1-email": "CFO@Mars.example",
        "contacts-1-name": "CFO",
    })
    assert response.status_code == 302
    with inside(beta):
        account.refresh_from_db()
        assert account.payment_kind == "card"
        assert list(account.contacts.values_list("email", "name")) == [
            ("cfo@mars.example", "CFO")]
