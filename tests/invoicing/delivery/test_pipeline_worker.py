"""The whole pipeline through a real Celery worker and beat, a real SMTP server, a real
Stripe-compatible server (and its signed webhooks to a real web server), and a worker
killed with SIGKILL in the middle of it.

These tests commit their data, so they run in a provider of their own ("dlv"), created
from the template schema for each test and dropped afterwards.
"""

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from djstripe.models import Account, WebhookEventTrigger
from pypdf import PdfReader

from accounts.models import BillingContact, PaymentKind
from accounts.onboarding import provider_onboard
from billing.celery import app
from cycles.models import BillingCycle
from invoicing.models import (
    Invoice,
    InvoiceDelivery,
    InvoiceStatus,
    PaymentAttempt,
    PaymentProfile,
    PaymentStatus,
    StepStatus,
)
from invoicing.payments.cards import payment_method_set
from invoicing.payments.stripe_account import stripe_account_connect, webhook_path
from notifications.models import OutboxMessage, OutboxStatus
from tenancy.models import Domain
from tenancy.selectors import provider_get_by_slug
from tests.conftest import PASSWORD, inside
from tests.factories import make_org, make_project
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    SEP_START,
    make_cycle,
    run_resource,
    seed_catalog,
    seed_prices,
)
from tests.invoicing.delivery.conftest import (
    ROOT,
    StripeKeys,
    attachments,
    free_port,
)
from tests.workers import _child_env

pytestmark = pytest.mark.worker

SLUG = "dlv"
WEBHOOK_HOST = "127.0.0.2"  # a loopback address of its own, routed to the provider
# The provider's own Stripe account (committed: removed with the provider).
KEYS = StripeKeys("acct_tallypipelinetests", "sk_test_" + "tallypipelinedelivery0123",
                  "pk_test_" + "tallypipelinedelivery0123", "whsec_tallypipelinesecret")


class Child:
    """A subprocess in its own process group, so SIGKILL takes its children too."""

    def __init__(self, argv, env, name):
        self.log = Path(tempfile.mkstemp(prefix=f"tally-{name}-", suffix=".log")[1])
        self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log.open("w"),
                                      stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        yield
        connection.set_schema_to_public()


def _drop_provider() -> None:
    connection.set_schema_to_public()
    # Its Stripe account's records in the public schema go with it (owner: cascade).
    Account.objects.filter(id=KEYS.account_id).delete()
    provider = provider_get_by_slug(slug=SLUG)
    if provider is not None:
        Domain.objects.filter(tenant=provider).delete()
        provider.delete(force_drop=True)


@pytest.fixture
def stack(committed, smtp_server, localstripe_server, tmp_path):
    """A fresh provider with a chargeback and a card account, a web server for webhooks,
    and what the worker and beat processes need in their environment."""
    _drop_provider()
    provider = provider_onboard(slug=SLUG, name="Delivery Cloud", admin_username="dora",
                               admin_password=PASSWORD, currency="EUR").provider
    provider.address = "7 Ledger Lane\nCountville"
    provider.save(update_fields=["address"])
    Domain.objects.create(domain=WEBHOOK_HOST, tenant=provider, is_primary=False)
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-delivery"
    web_port = free_port(WEBHOOK_HOST)
    media = tmp_path / "media"
    env = _child_env(
        EMAIL_HOST=smtp_server.host, EMAIL_PORT=str(smtp_server.port),
        STRIPE_API_HOST=localstripe_server.url, MEDIA_ROOT=str(media),
        ALLOWED_HOSTS=f"{WEBHOOK_HOST},localhost,.localhost",
        TALLY_PAYMENT_LEASE_SECONDS="2", TALLY_OUTBOX_LEASE_SECONDS="2",
        TALLY_CLOSING_EVERY_SECONDS="1", TALLY_DELIVERY_EVERY_SECONDS="1",
        TALLY_PAYMENTS_EVERY_SECONDS="1", TALLY_OUTBOX_EVERY_SECONDS="1",
        TALLY_RATING_EVERY_SECONDS="3600", TALLY_CYCLES_EVERY_SECONDS="3600",
    )
    env["TALLY_CELERY_QUEUE"] = queue
    web = Child([sys.executable, "-m", "gunicorn", "billing.wsgi", "-b",
                 f"{WEBHOOK_HOST}:{web_port}", "-w", "1", "--access-logfile", "-"], env, "web")
    settings_backup = getattr(settings, "STRIPE_API_HOST", None)
    settings.STRIPE_API_HOST = localstripe_server.url
    with inside(provider):
        endpoint = stripe_account_connect(
            secret_key=KEYS.secret_key, publishable_key=KEYS.publishable_key,
            webhook_secret=KEYS.webhook_secret, account_id=KEYS.account_id)
        localstripe_server.register_webhook(
            "tally-delivery", f"http://{WEBHOOK_HOST}:{web_port}{webhook_path(endpoint)}",
            KEYS.webhook_secret,
        )
        instance, disk = seed_catalog()
        seed_prices(instance, disk)
        team = make_org("mars-corp")
        team_account = team.billing_accounts.get()
        for address in ("cfo@mars.test", "ops@mars.test"):
            BillingContact.objects.create(billing_account=team_account, email=address)
        shop = make_org("venus-shop")
        card_account = shop.billing_accounts.get()
        card_account.payment_kind = PaymentKind.CARD
        card_account.save(update_fields=["payment_kind"])
        BillingContact.objects.create(billing_account=card_account, email="pay@venus.test")
        payment_method_set(billing_account=card_account, payment_method="pm_card_visa")
        for org, prefix in ((team, "m"), (shop, "v")):
            project = make_project(f"{org.name}-adventure", org)
            vm = run_resource(f"{prefix}-i-1", instance, "4cpu-16gb", project, since=SEP_START)
            run_resource(f"{prefix}-d-1", disk, "500gb", project, since=SEP_START, parent=vm)
        make_cycle(OCT_START, NOV_START, "2020-10")
    connection.set_schema_to_public()
    yield {"provider": provider, "env": env, "queue": queue, "media": media, "web": web,
           "card_account": card_account, "team_account": team_account}
    web.stop()
    settings.STRIPE_API_HOST = settings_backup
    _drop_provider()


def start_worker(stack, pause_at: tuple[str, Path] | None = None) -> Child:
    """A worker on the test's queue; with `pause_at` (checkpoint, marker file), one that
    stops at that checkpoint (tests/invoicing/delivery/paused_worker.py)."""
    queue = stack["queue"]
    hostname = f"{queue}-{time.monotonic_ns()}@localhost"
    celery = ["-A", "billing", "worker", "--loglevel", "INFO", "--concurrency", "2",
              "-Q", queue, "-n", hostname, "--without-gossip", "--without-mingle"]
    entry = ["celery"] if pause_at is None else [
        "tests.invoicing.delivery.paused_worker", pause_at[0], str(pause_at[1])]
    worker = Child([sys.executable, "-m", *entry, *celery], stack["env"], "delivery-worker")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.popen.poll() is not None:
            pytest.fail(f"the worker exited:\n{worker.output()}")
        if app.control.ping(destination=[hostname], timeout=1.0):
            return worker
    worker.kill()
    pytest.fail(f"the worker never answered:\n{worker.output()}")


def start_beat(stack) -> Child:
    schedule = Path(tempfile.mkdtemp()) / "celerybeat-schedule"
    return Child([sys.executable, "-m", "celery", "-A", "billing", "beat", "--loglevel", "INFO",
                  "--schedule", str(schedule)], stack["env"], "delivery-beat")


def wait_until(predicate, timeout: float, what: str, *children: Child):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    logs = "\n\n".join(f"--- {c.log.name}\n{c.output()[-6000:]}" for c in children)
    pytest.fail(f"timed out waiting for {what}\n{logs}")


def _state(provider):
    with inside(provider):
        deliveries = list(InvoiceDelivery.objects.select_related("invoice").order_by("invoice_id"))
        return deliveries


def _all_delivered(provider, mailbox, expected_mails=3):
    deliveries = _state(provider)
    if len(deliveries) != 2:
        return False
    with inside(provider):
        sent = OutboxMessage.objects.filter(status=OutboxStatus.SENT).count()
    done = all(d.pdf_status == StepStatus.DONE and d.email_status == StepStatus.DONE
               and d.payment_status in (PaymentStatus.PAID, PaymentStatus.NOT_APPLICABLE)
               for d in deliveries)
    return done and sent == expected_mails and len(mailbox.messages) >= expected_mails


def _card_webhook_seen(provider):
    """localstripe's payment_intent.succeeded reached the web server and dj-stripe
    verified, recorded and processed it on the provider's own endpoint."""
    with inside(provider):
        return WebhookEventTrigger.objects.filter(
            webhook_endpoint__djstripe_owner_account_id=KEYS.account_id, valid=True,
            processed=True, event__type="payment_intent.succeeded",
        ).exists()


def assert_everything_once(stack, mailbox, localstripe_server):
    provider = stack["provider"]
    with inside(provider):
        invoices = {i.billing_account_id: i for i in Invoice.objects.all()}
        assert len(invoices) == 2
        assert {i.status for i in invoices.values()} == {InvoiceStatus.FINALIZED}
        assert BillingCycle.objects.get(label="2020-10").status == "closed"
        card_invoice = invoices[stack["card_account"].pk]
        team_invoice = invoices[stack["team_account"].pk]
        attempts = list(PaymentAttempt.objects.all())
        assert [(a.invoice_id, a.number, a.status) for a in attempts] == [
            (card_invoice.pk, 1, "succeeded")
        ]
        assert attempts[0].idempotency_key == f"{SLUG}-invoice-{card_invoice.number}-attempt-1"
        deliveries = {d.invoice_id: d for d in InvoiceDelivery.objects.all()}
        assert deliveries[card_invoice.pk].payment_status == PaymentStatus.PAID
        assert deliveries[team_invoice.pk].payment_status == PaymentStatus.NOT_APPLICABLE
        assert {m.to for m in OutboxMessage.objects.all()} == {
            "cfo@mars.test", "ops@mars.test", "pay@venus.test"}
        assert OutboxMessage.objects.count() == 3
        customer = PaymentProfile.objects.get(billing_account=stack["card_account"])
    # One PDF per invoice, at its deterministic path.
    pdfs = sorted(p.name for p in (stack["media"] / SLUG / "invoices").iterdir())
    assert pdfs == sorted(f"{i.number}.pdf" for i in invoices.values())
    # One email per contact.
    assert sorted(m["X-Envelope-To"] for m in mailbox.messages) == [
        "cfo@mars.test", "ops@mars.test", "pay@venus.test"]
    # One charge on Stripe.
    charged = [i for i in localstripe_server.intents()
               if i["customer"] == customer.stripe_customer_id]
    assert len(charged) == 1
    assert charged[0]["amount"] == int(card_invoice.total * 100)
    assert charged[0]["status"] == "succeeded"
    return card_invoice, team_invoice


def test_closing_a_cycle_with_a_worker_and_beat_delivers_pdfs_emails_and_payments(
    stack, smtp_server, localstripe_server
):
    smtp_server.clear()
    worker = start_worker(stack)
    beat = start_beat(stack)
    try:
        wait_until(lambda: _all_delivered(stack["provider"], smtp_server), 180,
                   "every invoice rendered, emailed and paid", worker, beat)
        wait_until(lambda: _card_webhook_seen(stack["provider"]), 60,
                   "the signed payment_intent.succeeded webhook", worker, stack["web"])
    finally:
        beat.stop()
        worker.stop()
    card_invoice, team_invoice = assert_everything_once(stack, smtp_server, localstripe_server)

    message = smtp_server.to("pay@venus.test")[0]
    files = attachments(message)
    assert list(files) == [f"{card_invoice.number}.pdf"]
    text = " ".join(" ".join(p.extract_text().split())
                    for p in PdfReader(io.BytesIO(files[f"{card_invoice.number}.pdf"])).pages)
    with inside(stack["provider"]):
        lines = list(card_invoice.lines.all())
    assert "INVOICE" in text and card_invoice.number in text
    assert "Delivery Cloud" in text and "7 Ledger Lane" in text
    for line in lines:
        assert line.resource_label in text.replace("- ", "-")
    assert f"€{card_invoice.total:,.2f}" in text
    assert "Visa •••• 4242".lower() in text.lower() or "4242" in text
    team_text = PdfReader(io.BytesIO(
        attachments(smtp_server.to("cfo@mars.test")[0])[f"{team_invoice.number}.pdf"]
    )).pages[0].extract_text()
    assert "STATEMENT" in team_text and team_invoice.number in team_text


@pytest.mark.parametrize("checkpoint", ["pdf-stored", "payment-after-stripe"])
def test_a_worker_killed_mid_pipeline_loses_and_duplicates_nothing(
    stack, smtp_server, localstripe_server, checkpoint, tmp_path
):
    smtp_server.clear()
    marker = tmp_path / "paused"
    worker = start_worker(stack, pause_at=(checkpoint, marker))
    beat = start_beat(stack)
    try:
        wait_until(marker.exists, 120, f"a worker paused at {checkpoint}", worker, beat)
        worker.kill()  # SIGKILL, the whole process group, in the middle of the step
        if checkpoint == "payment-after-stripe":
            with inside(stack["provider"]):
                # Stripe charged, Tally has not recorded it: the attempt is in flight.
                assert PaymentAttempt.objects.get().payment_intent_id == ""
        worker = start_worker(stack)
        wait_until(lambda: _all_delivered(stack["provider"], smtp_server), 180,
                   "every invoice delivered after the restart", worker, beat)
        time.sleep(3)  # beat keeps sweeping: nothing more may happen
    finally:
        beat.stop()
        worker.stop()
    assert_everything_once(stack, smtp_server, localstripe_server)
