"""An organization's billing accounts as its page shows them: contacts, payment
profile and the projects billing to each."""

from datetime import datetime

from django.db.models import Prefetch, Q

from accounts.models import BillingAccount, Organization, ProjectAccountAssignment
from core.replica import read_alias
from invoicing.models import PaymentProfile
from invoicing.payments.selectors import cards_of_profiles


def billing_accounts_with_projects(*, organization: Organization, at: datetime
                                   ) -> list[BillingAccount]:
    """The organization's billing accounts, each with `contacts`, `profile` (its payment
    profile or None), `card` (its card on file, dj-stripe's record, or None) and
    `current_projects` (the projects billing to it at `at`). Four queries."""
    accounts = (
        BillingAccount.objects.using(read_alias()).filter(organization=organization)
        .select_related("payment_profile")
        .prefetch_related(
            "contacts",
            Prefetch(
                "assignments",
                queryset=ProjectAccountAssignment.objects.filter(
                    Q(valid_to__isnull=True) | Q(valid_to__gt=at), valid_from__lte=at
                ).select_related("project").order_by("project__name"),
                to_attr="current_assignments",
            ),
        )
        .order_by("-is_default", "name")
    )
    result = list(accounts)
    for account in result:
        account.current_projects = [a.project for a in account.current_assignments]
        account.profile = payment_profile_of(account)
    cards = cards_of_profiles([a.profile for a in result if a.profile is not None])
    for account in result:
        account.card = cards.get(account.pk)
    return result


def payment_profile_of(account: BillingAccount) -> PaymentProfile | None:
    try:
        return account.payment_profile
    except PaymentProfile.DoesNotExist:  # chargeback accounts have none
        return None
