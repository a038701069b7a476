"""Organizations and billing accounts: the first account is the default, exactly one default."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from accounts.models import (
    BillingAccount,
    BillingContact,
    Organization,
    PaymentKind,
    Role,
    RoleGrant,
)
from accounts.organizations import (
    ACCOUNT_NAME_TAKEN,
    CONTACT_INVALID,
    NAME_INVALID,
    NAME_TAKEN,
    billing_account_create,
    billing_account_set_default,
    billing_contact_add,
    billing_contact_remove,
    organization_create,
)
from tests.accounts.support import make_user
from tests.conftest import inside

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _alice():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="alice")


def test_an_organization_gets_its_first_account_as_default(beta):
    with inside(beta):
        org = organization_create(name="mars-corp", display_name="Mars Corp", actor=None,
                                  now=NOW)
        accounts = list(org.billing_accounts.values_list("name", "is_default", "payment_kind"))
        assert accounts == [("Main", True, PaymentKind.CHARGEBACK)]


def test_an_organization_without_an_account_gets_none(beta):
    with inside(beta):
        org = organization_create(name="venus", display_name="Venus", actor=None, now=NOW,
                                  billing_account_name=None)
        assert not org.billing_accounts.exists()


def test_a_creator_who_is_not_fleet_admin_becomes_org_admin(alpha):
    with inside(alpha):
        carol = make_user("carol")
        org = organization_create(name="mars-corp", display_name="Mars", actor=carol, now=NOW)
        assert list(RoleGrant.objects.filter(user=carol).values_list(
            "role", "organization_id", "granted_by_id")) == [(Role.ORG_ADMIN, org.pk, carol.pk)]
        # A fleet admin (alice, the provider's first admin) needs no grant of the org.
        organization_create(name="jupiter", display_name="Jupiter", actor=_alice(), now=NOW)
        assert list(RoleGrant.objects.filter(user=_alice()).values_list("role", flat=True)) == [
            Role.FLEET_ADMIN]


@pytest.mark.parametrize("name", ["Mars", "mars_corp", "-mars", "", "mars corp", "ü"])
def test_organization_names_are_lowercase_slugs(beta, name):
    with inside(beta), pytest.raises(ValidationError) as refused:
        organization_create(name=name, display_name="X", actor=None, now=NOW)
    assert refused.value.message_dict == {"name": [NAME_INVALID]}


def test_a_duplicate_organization_name_is_a_field_error_and_writes_nothing(beta):
    with inside(beta):
        organization_create(name="mars", display_name="Mars", actor=None, now=NOW)
        with pytest.raises(ValidationError) as refused:
            organization_create(name="mars", display_name="Other", actor=None, now=NOW)
        assert refused.value.message_dict == {"name": [NAME_TAKEN.format(name="mars")]}
        assert Organization.objects.filter(name="mars").count() == 1
        assert BillingAccount.objects.filter(organization__name="mars").count() == 1


def test_a_second_account_is_not_default(beta):
    with inside(beta):
        org = organization_create(name="mars", display_name="Mars", actor=None, now=NOW)
        second = billing_account_create(organization=org, name="Research",
                                        payment_kind=PaymentKind.CARD,
                                        contacts=["Ops@Mars.example", "ops@mars.example"],
                                        actor=None, now=NOW)
        assert second.is_default is False
        assert list(second.contacts.values_list("email", flat=True)) == ["ops@mars.example"]
        assert org.billing_accounts.get(is_default=True).name == "Main"


def test_the_first_account_of_an_org_without_one_becomes_default(beta):
    with inside(beta):
        org = organization_create(name="venus", display_name="Venus", actor=None, now=NOW,
                                  billing_account_name=None)
        first = billing_account_create(organization=org, name="Only",
                                       payment_kind=PaymentKind.CHARGEBACK, contacts=[],
                                       actor=None, now=NOW)
        assert first.is_default is True


def test_account_names_are_unique_per_org_and_contacts_must_be_emails(beta):
    with inside(beta):
        org = organization_create(name="mars", display_name="Mars", actor=None, now=NOW)
        with pytest.raises(ValidationError) as refused:
            billing_account_create(organization=org, name="Main", payment_kind="chargeback",
                                   contacts=[], actor=None, now=NOW)
        assert refused.value.message_dict == {"name": [ACCOUNT_NAME_TAKEN.format(name="Main")]}
        with pytest.raises(ValidationError) as refused:
            billing_account_create(organization=org, name="Ops", payment_kind="chargeback",
                                   contacts=["not-an-email"], actor=None, now=NOW)
        assert refused.value.message_dict == {
            "contacts": [CONTACT_INVALID.format(email="not-an-email")]}
        with pytest.raises(ValidationError) as refused:
            billing_account_create(organization=org, name="Ops", payment_kind="cash",
                                   contacts=[], actor=None, now=NOW)
        assert list(refused.value.message_dict) == ["payment_kind"]
        assert org.billing_accounts.count() == 1


def test_set_default_swaps_and_is_idempotent(beta):
    with inside(beta):
        org = organization_create(name="mars", display_name="Mars", actor=None, now=NOW)
        main = org.billing_accounts.get()
        research = billing_account_create(organization=org, name="Research",
                                          payment_kind="chargeback", contacts=[], actor=None,
                                          now=NOW)
        billing_account_set_default(billing_account=research)
        assert dict(org.billing_accounts.values_list("name", "is_default")) == {
            "Main": False, "Research": True}
        billing_account_set_default(billing_account=research)
        billing_account_set_default(billing_account=main)
        assert dict(org.billing_accounts.values_list("name", "is_default")) == {
            "Main": True, "Research": False}


def test_the_database_refuses_two_defaults(beta):
    from django.db import IntegrityError, transaction

    with inside(beta):
        org = organization_create(name="mars", display_name="Mars", actor=None, now=NOW)
        with pytest.raises(IntegrityError), transaction.atomic():
            BillingAccount.objects.create(organization=org, name="Second", is_default=True)
        assert org.billing_accounts.count() == 1


def test_contacts_are_added_once_and_removed(beta):
    with inside(beta):
        org = organization_create(name="mars", display_name="Mars", actor=None, now=NOW)
        account = org.billing_accounts.get()
        billing_contact_add(billing_account=account, email="Finance@Mars.example")
        billing_contact_add(billing_account=account, email="finance@mars.example",
                            name="Finance")
        assert list(BillingContact.objects.values_list("email", "name")) == [
            ("finance@mars.example", "Finance")]
        assert billing_contact_remove(billing_account=account, email="finance@mars.example")
        assert not billing_contact_remove(billing_account=account, email="finance@mars.example")
        assert not BillingContact.objects.exists()
