"""Chaos: the whole pipeline, ingest -> rating -> close -> PDF -> email -> payment, with the
worker SIGKILLed (its whole process group) at random points, 50 times with a fixed seed.

Events arrive over HTTP at a real web server, each batch sent twice (a client that
retries after a timeout). Then a real beat and a real worker rate, close, render, email
and collect, while the worker is killed every 0.2-2 s and started again. After the last
restart the pipeline is left to recover, and the test checks what a customer and an
auditor would: every event counted once (stored once, billed once), invoice numbers
1..N with no gap and no duplicate, every email sent once (one SMTP delivery per
recipient and invoice), every payment collected once (one PaymentIntent per card
invoice on the Stripe-compatible server).

Set TALLY_CHAOS_KILLS to change the number of kills (default 50); the seed is fixed.
"""

import http.client
import json
import os
import random
import time
from decimal import Decimal

import pytest

from accounts.api_keys import api_key_issue
from accounts.models import BillingContact, PaymentKind
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
from metering.models import LifecycleEvent
from notifications.models import OutboxMessage, OutboxStatus
from tenancy.middleware import provider_cache_clear
from tenancy.models import Provider
from tests.conftest import inside
from tests.factories import make_org, make_project
from tests.invoicing.builders import SEP_START
from tests.invoicing.delivery.test_pipeline_worker import (  # noqa: F401 - fixtures
    WEBHOOK_HOST,
    committed,
    stack,
    start_beat,
    start_worker,
    wait_until,
)

pytestmark = pytest.mark.worker

KILLS = int(os.environ.get("TALLY_CHAOS_KILLS", "50"))
SEED = 19
ACCOUNTS = 12  # besides the stack's two; every third pays by card
# Each chaos VM runs 1-11 Oct and 21 Oct-1 Nov: 21 days, at 0.10 a minute.
VM_MINUTES = Decimal(21 * 1440)


def _chaos_accounts(provider) -> list[str]:
    """Twelve more organizations, each with a project and a billing contact; every third
    account pays by card. Returns the projects' names."""
    projects = []
    # The provider bills from September 2020, so October's events are taken.
    Provider.objects.filter(pk=provider.pk).update(billing_start=SEP_START)
    provider.billing_start = SEP_START
    provider_cache_clear()
    with inside(provider):
        for n in range(ACCOUNTS):
            org = make_org(f"chaos-{n:02d}")
            account = org.billing_accounts.get()
            BillingContact.objects.create(billing_account=account,
                                          email=f"billing-{n:02d}@chaos.test")
            if n % 3 == 0:
                account.payment_kind = PaymentKind.CARD
                account.save(update_fields=["payment_kind"])
                payment_method_set(billing_account=account, payment_method="pm_card_visa")
            projects.append(make_project(f"chaos-{n:02d}-web", org).name)
    return projects


OCTOBER_DAYS = (("created", "2020-10-01"), ("stopped", "2020-10-11"), ("started", "2020-10-21"),
                ("deleted", "2020-11-01"))
# The stack's resources (since September): deleted at the end of October too, so that no
# month after it bills (a resource still running would carry over into every month
# since 2020, each closed, rendered, emailed and charged in turn).
STACK_RESOURCES = (("m-i-1", "instance", "4cpu-16gb", "mars-corp-adventure"),
                   ("m-d-1", "disk", "500gb", "mars-corp-adventure"),
                   ("v-i-1", "instance", "4cpu-16gb", "venus-shop-adventure"),
                   ("v-d-1", "disk", "500gb", "venus-shop-adventure"))


def _event(event_id, resource, kind, resource_type, variant, project, day) -> dict:
    return {"event_id": event_id, "resource_id": resource, "kind": kind,
            "resource_type": resource_type, "variant": variant, "project": project,
            "region": "mars", "occurred_at": f"{day}T00:00:00Z"}


def _events(projects: list[str]) -> list[dict]:
    """Each chaos VM runs 1-11 Oct and 21 Oct-1 Nov; everything is deleted on 1 Nov."""
    events = [_event(f"{project}-vm-{kind}", f"{project}-vm", kind, "instance", "4cpu-16gb",
                     project, day)
              for project in projects for kind, day in OCTOBER_DAYS]
    for resource, kind, variant, project in STACK_RESOURCES:
        event = _event(f"stack-{resource}-deleted", resource, "deleted", kind, variant, project,
                       "2020-11-01")
        if kind == "disk":  # attached to its instance: a resource never changes its parent
            event["parent_resource_id"] = resource.replace("-d-", "-i-")
        events.append(event)
    return events


def _ingest_twice(world: dict, events: list[dict]) -> list[dict]:
    """POST the events in batches of 8 over HTTP, each batch twice; returns the answers."""
    with inside(world["provider"]):
        key = api_key_issue(username="dora", name="chaos").secret
    argv = world["web"].popen.args
    port = int(argv[argv.index("-b") + 1].rsplit(":", 1)[1])
    wait_until(lambda: _answers(port), 60, "the web server", world["web"])
    answers = []
    for start in range(0, len(events), 8):
        body = json.dumps({"events": events[start:start + 8]})
        for _ in range(2):
            connection = http.client.HTTPConnection(WEBHOOK_HOST, port, timeout=30)
            connection.request("POST", "/api/v1/resources/events", body=body, headers={
                "Host": WEBHOOK_HOST, "Authorization": f"Bearer {key}",
                "Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200, response.read()
            answers.append(json.loads(response.read()))
            connection.close()
    return answers


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection(WEBHOOK_HOST, port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def _recovered(provider, mailbox, invoices: int, emails: int) -> bool:
    with inside(provider):
        deliveries = list(InvoiceDelivery.objects.all())
        sent = OutboxMessage.objects.filter(status=OutboxStatus.SENT).count()
    done = len(deliveries) == invoices and all(
        d.pdf_status == StepStatus.DONE and d.email_status == StepStatus.DONE
        and d.payment_status in (PaymentStatus.PAID, PaymentStatus.NOT_APPLICABLE)
        for d in deliveries)
    return done and sent == emails and len(mailbox.messages) >= emails


def test_the_pipeline_survives_fifty_random_worker_kills(stack, smtp_server,  # noqa: F811
                                                          localstripe_server):
    provider = stack["provider"]
    projects = _chaos_accounts(provider)
    events = _events(projects)
    answers = _ingest_twice(stack, events)
    refused = [item for a in answers for item in a["items"] if item["status"] == "refused"]
    assert refused == []
    assert sum(a["accepted"] for a in answers) == len(events)
    assert sum(a["duplicate"] for a in answers) == len(events)

    smtp_server.clear()
    rng = random.Random(SEED)
    invoices, emails = ACCOUNTS + 2, ACCOUNTS + 3  # the stack's team account has two contacts
    beat = start_beat(stack)
    worker = start_worker(stack)
    kills = 0
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 2.0))
            worker.kill()
            kills += 1
            worker = start_worker(stack)
        wait_until(lambda: _recovered(provider, smtp_server, invoices, emails), 300,
                   "the pipeline to recover after the kills", worker, beat)
        time.sleep(3)  # beat keeps sweeping: nothing more may happen
    finally:
        beat.stop()
        worker.stop()
    assert kills == KILLS

    with inside(provider):
        # Every event counted once: stored once, and billed once.
        assert LifecycleEvent.objects.filter(event_id__in=[e["event_id"] for e in events]
                                             ).count() == len(events)
        finalized = Invoice.objects.filter(status=InvoiceStatus.FINALIZED)
        for project in projects:
            invoice = finalized.get(billing_account__organization__name=project[:8])
            quantities = [line.quantity for line in invoice.lines.filter(metric_key="instance")]
            assert sum(quantities) == VM_MINUTES, project
            assert invoice.total == VM_MINUTES * Decimal("0.10")
        # Numbers 1..N, no gap, no duplicate; the cycle closed.
        assert sorted(finalized.values_list("sequence", flat=True)) == list(range(1, invoices + 1))
        assert Invoice.objects.count() == invoices
        assert BillingCycle.objects.get(label="2020-10").status == "closed"
        outbox = list(OutboxMessage.objects.values_list("to", flat=True))
        card_invoices = list(finalized.filter(billing_account__payment_kind=PaymentKind.CARD))
        attempts = list(PaymentAttempt.objects.filter(status="succeeded")
                        .values_list("invoice_id", flat=True))
        customers = set(PaymentProfile.objects.values_list("stripe_customer_id", flat=True))
    card_totals = sorted(int(i.total * 100) for i in card_invoices)
    # Every email sent once: one outbox row per recipient and invoice, one SMTP delivery.
    assert len(outbox) == len(set(outbox)) == emails
    assert sorted(m["X-Envelope-To"] for m in smtp_server.messages) == sorted(outbox)
    assert len({m["Message-ID"] for m in smtp_server.messages}) == emails
    # Every payment collected once: one succeeded attempt and one PaymentIntent each.
    assert sorted(attempts) == sorted(i.pk for i in card_invoices)
    charged = [i for i in localstripe_server.intents() if i["customer"] in customers]
    assert sorted(i["amount"] for i in charged) == card_totals
    assert {i["status"] for i in charged} == {"succeeded"}
    print(f"\nchaos: {kills} kills survived; {len(events)} events (each sent twice), "
          f"{invoices} invoices, {emails} emails, {len(charged)} card payments")
