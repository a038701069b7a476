"""Real boundaries for invoice delivery: an SMTP sink (aiosmtpd), a Stripe-compatible
server (localstripe, in its own virtualenv under .tally/), and builders of finalized
invoices."""

import email
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import Message
from pathlib import Path

import pytest
import stripe
from aiosmtpd.controller import Controller
from django_tenants.utils import tenant_context

from accounts.models import BillingAccount, BillingContact, PaymentKind
from cycles.models import BillingCycle, CycleStatus
from invoicing.closing import invoice_finalize
from invoicing.models import Invoice, InvoiceLine, LineKind
from invoicing.payments.stripe_account import stripe_account_connect
from tenancy.selectors import provider_current
from tests.factories import make_org, make_project

logging.getLogger("mail.log").setLevel(logging.WARNING)
logging.getLogger("weasyprint").setLevel(logging.WARNING)

ROOT = Path(__file__).resolve().parents[3]
LOCALSTRIPE_VERSION = "1.15.10"
LOCALSTRIPE_VENV = ROOT / ".tally" / "localstripe-venv"

@dataclass(frozen=True)
class StripeKeys:
    """One provider's own Stripe account: dj-stripe keys must look real (24+ letters)."""

    account_id: str
    secret_key: str
    publishable_key: str
    webhook_secret: str


# Each test provider has an account of its own (localstripe answers every key alike).
STRIPE_ACCOUNTS = {
    "alpha": StripeKeys("acct_tallyalphatests", "sk_test_" + "tallyalphadeliverytests0123",
                        "pk_test_" + "tallyalphadeliverytests0123", "whsec_tallyalphasecret"),
    "beta": StripeKeys("acct_tallybetatests", "sk_test_" + "tallybetadeliverytests01234",
                       "pk_test_" + "tallybetadeliverytests01234", "whsec_tallybetasecret"),
}
STRIPE_KEY = STRIPE_ACCOUNTS["alpha"].secret_key
WEBHOOK_SECRET = STRIPE_ACCOUNTS["alpha"].webhook_secret


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --- SMTP ---------------------------------------------------------------------------


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address in m["X-Envelope-To"]]

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.1)
        return list(self.messages)


@pytest.fixture(scope="session")
def smtp_server():
    box = Mailbox(host="127.0.0.1", port=free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def mailbox(smtp_server, settings):
    """The SMTP sink, emptied, with Django's email framework pointed at it."""
    smtp_server.clear()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    return smtp_server


def attachments(message: Message) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_payload(decode=True)
        for part in message.walk() if part.get_filename()
    }


def bodies(message: Message) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html") and not part.get_filename():
            found[part.get_content_type()] = part.get_payload(decode=True).decode()
    return found


# --- localstripe --------------------------------------------------------------------


def localstripe_executable() -> Path:
    """localstripe pins aiohttp and friends of its own: it lives in its own virtualenv,
    created on first use."""
    exe = LOCALSTRIPE_VENV / "bin" / "localstripe"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LOCALSTRIPE_VENV)], check=True)
        subprocess.run([str(LOCALSTRIPE_VENV / "bin" / "pip"), "install", "-q",
                        f"localstripe=={LOCALSTRIPE_VERSION}"], check=True)
    return exe


@dataclass
class LocalStripe:
    url: str
    process: subprocess.Popen
    log: Path
    # Each provider's dj-stripe webhook endpoint (set by the `stripe_server` fixture).
    endpoints: dict = field(default_factory=dict)

    def post(self, path: str, body: dict) -> dict:
        """What localstripe's Stripe.js does in a browser: a JSON POST with the key."""
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def events(self, type_: str, object_id: str) -> list[dict]:
        """Events localstripe raised about one object, as it would post them."""
        stripe.api_base = self.url
        return [e.to_dict_recursive() if hasattr(e, "to_dict_recursive") else e.to_dict()
                for e in stripe.Event.list(type=type_, limit=100,
                                           api_key=STRIPE_KEY).auto_paging_iter()
                if e.data.object.id == object_id]

    def register_webhook(self, name: str, url: str, secret: str) -> None:
        data = f"url={url}&secret={secret}".encode()
        urllib.request.urlopen(f"{self.url}/_config/webhooks/{name}", data=data, timeout=5)

    def intents(self) -> list[dict]:
        stripe.api_base = self.url
        return [i.to_dict() for i in
                stripe.PaymentIntent.list(limit=100, api_key=STRIPE_KEY).auto_paging_iter()]


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    process = subprocess.Popen(
        [str(localstripe_executable()), "--port", str(port), "--from-scratch"],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"localstripe exited:\n{log.read_text()}")
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("localstripe never listened")
    yield LocalStripe(url=url, process=process, log=log)
    process.terminate()
    process.wait(10)


@pytest.fixture
def stripe_server(localstripe_server, settings, alpha, beta):
    """localstripe, with each test provider connected to its own Stripe account (rows
    rolled back with the test)."""
    settings.STRIPE_API_HOST = localstripe_server.url
    settings.STRIPE_LIVE_MODE = False
    for provider in (alpha, beta):
        keys = STRIPE_ACCOUNTS[provider.slug]
        with tenant_context(provider):
            localstripe_server.endpoints[provider.slug] = stripe_account_connect(
                secret_key=keys.secret_key, publishable_key=keys.publishable_key,
                webhook_secret=keys.webhook_secret, account_id=keys.account_id,
            )
    return localstripe_server


# --- invoices -----------------------------------------------------------------------

OCT = datetime(2020, 10, 1, tzinfo=UTC)
NOV = datetime(2020, 11, 1, tzinfo=UTC)
ISSUED = datetime(2020, 11, 1, 0, 5, tzinfo=UTC)


def october(provider_start=OCT, provider_end=NOV) -> BillingCycle:
    cycle = BillingCycle.objects.filter(label="2020-10").first()
    return cycle or BillingCycle.objects.create(
        start=provider_start, end=provider_end, label="2020-10", status=CycleStatus.CLOSING
    )


def make_account(org_name: str, *, kind: str = PaymentKind.CHARGEBACK,
                 contacts=("ops@example.test",)) -> BillingAccount:
    org = make_org(org_name)
    account = org.billing_accounts.get(is_default=True)
    account.payment_kind = kind
    account.save(update_fields=["payment_kind"])
    for address in contacts:
        BillingContact.objects.create(billing_account=account, email=address,
                                      name=address.split("@")[0].title())
    return account


def make_finalized_invoice(account: BillingAccount, *, usage_lines: int = 2,
                           credit: bool = True, now: datetime = ISSUED) -> Invoice:
    """A draft with the seed's lines (and an SLA credit), finalized by the real service."""
    cycle = october()
    project = make_project(f"{account.organization.name}-adventure", account.organization)
    invoice = Invoice.objects.create(billing_account=account, cycle=cycle,
                                     currency=provider_current().currency)
    total = Decimal(0)
    for i in range(usage_lines):
        amount = Decimal("69750.00") if i % 2 == 0 else Decimal("33750.00")
        InvoiceLine.objects.create(
            invoice=invoice, kind=LineKind.USAGE, period_start=OCT, period_end=NOV,
            project=project, project_name=project.name, region="Mars",
            metric_key="instance" if i % 2 == 0 else "disk",
            description=f"Usage line {i + 1:03d} for Project Adventure",
            resource_label="Instance: 4 CPU, 16 GB Memory" if i % 2 == 0 else "Disk: 500GB",
            resource_count=15, quantity=Decimal("669600"), unit="minute",
            rate=Decimal("0.10") if i % 2 == 0 else Decimal("0.05"), amount=amount,
            sort_key=f"a{i:04d}",
        )
        total += amount
    if credit:
        InvoiceLine.objects.create(
            invoice=invoice, kind=LineKind.CREDIT,
            period_start=datetime(2020, 10, 15, 23, tzinfo=UTC),
            period_end=datetime(2020, 10, 16, 4, 30, tzinfo=UTC),
            project=project, project_name=project.name, region="Mars", metric_key="instance",
            # As the rating run writes it: the credit's name and description, once.
            description="Mars SLA breach: Instances downgraded during the dust storm",
            resource_label="Instance: 4 CPU, 16 GB Memory", resource_count=15,
            quantity=Decimal("4950"), unit="minute", rate=Decimal("0.10"),
            amount=Decimal("-515.62"), sort_key="z0000",
            details={"credit_name": "Mars SLA breach",
                     "credit_description": "Instances downgraded during the dust storm"},
        )
        total += Decimal("-515.62")
    Invoice.objects.filter(pk=invoice.pk).update(subtotal=total, total=total)
    assert invoice_finalize(invoice_id=invoice.pk, now=now)
    return Invoice.objects.select_related("billing_account", "cycle").get(pk=invoice.pk)


def later(minutes: int) -> datetime:
    return ISSUED + timedelta(minutes=minutes)
