"""One-click unsubscribe (RFC 8058) from every email Tally sends.

An outbox message that says what it may be unsubscribed from (`OutboxMessage.unsubscribe`:
the kind of email and its organization or project) leaves with a
`List-Unsubscribe: <link>` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` header
and the link at the foot of its text. The link carries a signed message id, nothing else;
following it (a POST, as mail clients do, or the button of the page a GET shows) turns
that kind of email off for that scope in the preferences of every user with the
recipient's address, the same preferences the dashboards' page and the API edit, and
tells the apps above (`email_unsubscribed`) so an address with no user stops too (a
budget's address recipient, an account's billing contact).
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.dispatch import Signal

from accounts.models import BillingContact, Organization, Project
from notifications.models import OutboxMessage
from notifications.services import notification_preference_set
from tenancy.models import Domain
from tenancy.selectors import provider_current

KIND_INVOICE, KIND_BUDGET, KIND_PAYMENT = "invoice", "budget", "payment"
KIND_CREDIT = "credit"
# The preference each kind's one-click unsubscribe turns off.
_KIND_FLAG = {KIND_INVOICE: "invoice_email", KIND_BUDGET: "budget_email",
              KIND_PAYMENT: "payment_email", KIND_CREDIT: "credit_email"}
_SALT = "tally.notifications.unsubscribe"
UNSUBSCRIBE_PATH = "/unsubscribe/{token}/"

# Sent inside the unsubscribe's transaction: kind, email, organization_id, project_id.
email_unsubscribed = Signal()


def unsubscribe_token(message_id: int) -> str:
    return signing.dumps({"m": message_id}, salt=_SALT, compress=True)


def unsubscribe_message(token: str) -> OutboxMessage | None:
    """The message a link was made for; None for a forged or foreign token."""
    try:
        data = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return OutboxMessage.objects.filter(pk=data.get("m")).exclude(unsubscribe={}).first()


def unsubscribe_url(message: OutboxMessage) -> str:
    provider = provider_current()
    host = (Domain.objects.filter(tenant=provider, is_primary=True)
            .values_list("domain", flat=True).first() or f"{provider.slug}.localhost")
    return (settings.TALLY_LINK_BASE.format(host=host)
            + UNSUBSCRIBE_PATH.format(token=unsubscribe_token(message.pk)))


def unsubscribe_headers(message: OutboxMessage) -> dict[str, str]:
    """The RFC 8058 headers of an email that can be unsubscribed from; {} otherwise."""
    if not message.unsubscribe:
        return {}
    return {"List-Unsubscribe": f"<{unsubscribe_url(message)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@dataclass(frozen=True)
class Unsubscribed:
    email: str
    kind: str
    scope_name: str
    users: int


def unsubscribe_apply(*, message: OutboxMessage, now: datetime) -> Unsubscribed:
    """Turn the message's kind of email off for its scope, for its recipient. Running it
    twice changes nothing more."""
    kind = message.unsubscribe["kind"]
    organization = project = None
    if message.unsubscribe.get("project"):
        project = Project.objects.select_related("organization").get(
            pk=message.unsubscribe["project"])
    else:
        organization = Organization.objects.get(pk=message.unsubscribe["organization"])
    email = message.to.strip().lower()
    flag = {_KIND_FLAG[kind]: False}
    with transaction.atomic():
        users = list(get_user_model().objects.filter(email__iexact=email, is_active=True))
        for user in users:
            notification_preference_set(user=user, organization=organization,
                                        project=project, now=now, **flag)
        if kind == KIND_INVOICE and organization is not None:
            # An address with no user: it stops being a billing contact of the org.
            BillingContact.objects.filter(billing_account__organization=organization,
                                          email__iexact=email).delete()
        # In the same transaction: the apps above stop their own sends with this one.
        email_unsubscribed.send(
            sender=OutboxMessage, kind=kind, email=email,
            organization_id=organization.pk if organization else None,
            project_id=project.pk if project else None)
    scope = project.name if project is not None else (organization.display_name
                                                      or organization.name)
    return Unsubscribed(email=email, kind=kind, scope_name=scope, users=len(users))
