"""The seed's sample invoice, October 2020, on a fresh provider, through HTTP and the
documented commands only, at real time (no patched clock): created, imported, rated,
finalized with its number, rendered as a PDF and emailed by a real worker to a real
SMTP server.

The provider, its data and its processes are real and committed: a provider of its
own (`oct2020`), made by `manage.py create_provider` and dropped afterwards; a web
server (gunicorn) answering on its host; `manage.py` commands run as a person would
run them; a Celery worker delivering what `close_cycles` finalized.
"""

import http.client
import io
import json
import re
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from pypdf import PdfReader

from billing.celery import app
from tenancy.models import Domain
from tenancy.selectors import provider_get_by_slug
from tests.invoicing.delivery.conftest import (
    attachments,
    bodies,
    free_port,
    smtp_server,  # noqa: F401 - a fixture
)
from tests.workers import ROOT, _child_env

pytestmark = pytest.mark.worker

SLUG = "oct2020"
ADMIN = ("olive", "olive-history-2020")
CONTACT = "finance@mars-corp.example"
OCT, NOV = "2020-10-01T00:00:00Z", "2020-11-01T00:00:00Z"
CATALOG = [
    {"record": "region", "key": "mars", "name": "Mars"},
    {"record": "resource_type", "key": "instance", "name": "Instance",
     "variants": {"4cpu-16gb": "4 CPU, 16 GB Memory"}},
    {"record": "resource_type", "key": "disk", "name": "Disk",
     "variants": {"500gb": "500GB Virtual Disk"}},
]


class Child:
    def __init__(self, argv: list[str], env: dict, name: str):
        self.log = Path(tempfile.mkstemp(prefix=f"tally-{name}-", suffix=".log")[1])
        self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log.open("w"),
                                      stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def _drop_provider() -> None:
    connection.set_schema_to_public()
    provider = provider_get_by_slug(slug=SLUG)
    if provider is not None:
        Domain.objects.filter(tenant=provider).delete()
        provider.delete(force_drop=True)


@pytest.fixture
def stack(django_db_setup, django_db_blocker, smtp_server, tmp_path):  # noqa: F811
    """The environment every process of this test shares: the test database, Redis, a
    queue of its own, the SMTP sink and a media folder."""
    with django_db_blocker.unblock():
        _drop_provider()
        env = _child_env(EMAIL_HOST=smtp_server.host, EMAIL_PORT=str(smtp_server.port),
                         MEDIA_ROOT=str(tmp_path / "media"))
        env["TALLY_CELERY_QUEUE"] = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-history"
        children: list[Child] = []
        yield {"env": env, "children": children, "tmp": tmp_path, "mailbox": smtp_server}
        for child in children:
            child.stop()
        _drop_provider()


def manage(stack, *args: str) -> str:
    """`python manage.py ...` as an operator runs it; its output (it must succeed)."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=stack["env"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def start(stack, argv: list[str], name: str) -> Child:
    child = Child(argv, stack["env"], name)
    stack["children"].append(child)
    return child


class Api:
    """Real HTTP to the provider's host on the test's web server, with an API key."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key

    def call(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        connection_ = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Host": f"{SLUG}.localhost", "Authorization": f"Bearer {self.key}"}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        connection_.request(method, f"/api/v1/{path}", body=payload, headers=headers)
        response = connection_.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, body=None, expect: int = 200):
        status, content = self.call(method, path, body)
        assert status == expect, f"{method} {path}: {status} {content[:2000]!r}"
        return json.loads(content)


def web_server(stack) -> int:
    port = free_port()
    web = start(stack, [sys.executable, "-m", "gunicorn", "billing.wsgi", "-b",
                        f"127.0.0.1:{port}", "-w", "2", "--access-logfile", "-"], "web")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/healthz")
            return port
        except OSError:
            assert web.popen.poll() is None, web.output()
            time.sleep(0.2)
    pytest.fail(f"the web server never answered:\n{web.output()}")


def worker(stack) -> Child:
    queue = stack["env"]["TALLY_CELERY_QUEUE"]
    hostname = f"{queue}@localhost"
    child = start(stack, [sys.executable, "-m", "celery", "-A", "billing", "worker",
                          "--loglevel", "INFO", "--concurrency", "2", "-Q", queue, "-n",
                          hostname, "--without-gossip", "--without-mingle"], "history-worker")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.popen.poll() is None, child.output()
        if app.control.ping(destination=[hostname], timeout=1.0):
            return child
    pytest.fail(f"the worker never answered:\n{child.output()}")


def lifecycle_events() -> list[dict]:
    """15 instances, each with a 500gb disk attached, created on 1 October 2020 and
    deleted on 1 November: 31 days each."""
    events = []
    for n in range(1, 16):
        for rid, rtype, variant, parent in ((f"vm-{n:02d}", "instance", "4cpu-16gb", None),
                                            (f"disk-{n:02d}", "disk", "500gb", f"vm-{n:02d}")):
            for kind, at in (("created", OCT), ("deleted", NOV)):
                event = {"event_id": f"{rid}-{kind}", "resource_id": rid, "kind": kind,
                         "resource_type": rtype, "variant": variant, "project": "adventure",
                         "region": "mars", "occurred_at": at}
                if parent:
                    event["parent_resource_id"] = parent
                events.append(event)
    return events


def test_the_october_2020_sample_invoice_end_to_end(stack):
    mailbox = stack["mailbox"]
    mailbox.clear()
    # 1. A fresh provider that bills from October 2020, and an API key for its admin.
    created = manage(stack, "create_provider", SLUG, "--name", "October Cloud", "--admin",
                     ADMIN[0], "--admin-password", ADMIN[1], "--billing-start", "2020-10")
    assert "bills from 2020-10" in created
    key = re.search(r"key:\s+(\S+)", manage(stack, "issue_api_key", "--provider", SLUG,
                                             "--user", ADMIN[0], "--name", "history"))[1]
    # 2. Its catalog, which has no API: the documented import command.
    catalog = stack["tmp"] / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(record) + "\n" for record in CATALOG))
    imported = manage(stack, "import_history", str(catalog), "--provider", SLUG)
    assert re.search(r"variant\s+2 created", imported)

    api = Api(web_server(stack), key)
    # 3. The history, through the API, each write dated in October 2020.
    organization = api.json("POST", "organizations", {"name": "mars-corp",
                                                      "display_name": "Mars Corp"}, 201)
    account = organization["default_billing_account"]["id"]
    api.json("POST", f"organizations/mars-corp/billing-accounts/{account}/contacts",
             {"email": CONTACT})
    project = api.json("POST", "projects", {"name": "adventure", "organization": "mars-corp",
                                            "billing_from": OCT}, 201)
    assert project["assignments"][0]["valid_from"] == OCT
    for resource_type, variant, rate in (("instance", "4cpu-16gb", "0.10"),
                                         ("disk", "500gb", "0.05")):
        api.json("PUT", f"system/billing/{resource_type}", {
            "variant": variant, "rate": rate, "unit": "minute", "effective_from": OCT})
    ingested = api.json("POST", "resources/events", {"events": lifecycle_events()})
    assert (ingested["accepted"], ingested["refused"]) == (60, 0), ingested
    api.json("POST", "credits", {
        "name": "Downgraded instances",
        "description": "Credit for downgraded instances in Region Mars",
        "window_start": "2020-10-15T23:00:00Z", "window_end": "2020-10-16T04:30:00Z",
        "organization": "mars-corp", "region": "mars", "resource_type": "instance"}, 201)
    calendar = api.json("GET", "cycles")
    october = [c for c in calendar["cycles"] if c["label"] == "2020-10"]
    assert october == [{"label": "2020-10", "start": OCT, "end": NOV, "last_day": "2020-10-31",
                        "status": "open", "closed_at": None}]
    # A deletion at midnight on 1 November bills October only: no November cycle.
    assert "2020-11" not in [c["label"] for c in calendar["cycles"]]

    # 4. Rated by the documented command: the draft is the sample invoice, corrected.
    assert "oct2020 2020-10: 30 resources" in manage(stack, "rate", "--provider", SLUG)
    drafts = api.json("GET", "invoices?period=2020-10")["results"]
    assert [(d["status"], d["total"]) for d in drafts] == [("draft", "99697.50")]

    # 5. Closed by the documented command, delivered by a real worker.
    delivery = worker(stack)
    closed = manage(stack, "close_cycles", "--provider", SLUG)
    assert "oct2020 2020-10: 1 invoice(s) finalized, cycle closed" in closed
    messages = mailbox.wait_for(1, timeout=120)
    assert messages, f"no email arrived:\n{delivery.output()[-6000:]}"

    invoice = api.json("GET", f"invoices/{drafts[0]['id']}")
    assert (invoice["status"], invoice["number"]) == ("finalized", "OCT2020-000001")
    lines = {(line["kind"], line["resource_type"]): line for line in invoice["lines"]}
    assert lines[("usage", "instance")]["amount"] == "66960.00"
    assert lines[("usage", "instance")]["quantity"] == "669600"
    assert lines[("usage", "disk")]["amount"] == "33480.00"
    assert lines[("credit", "instance")]["amount"] == "-495.00"
    assert lines[("credit", "disk")]["amount"] == "-247.50"
    assert (invoice["subtotal"], invoice["total"]) == ("100440.00", "99697.50")
    assert sum(Decimal(line["amount"]) for line in invoice["lines"]) == Decimal("99697.50")

    # The email, to the billing contact, with the PDF attached.
    message = mailbox.to(CONTACT)[0]
    assert "OCT2020-000001" in message["Subject"]
    assert "99,697.50" in bodies(message)["text/plain"]
    pdf = attachments(message)["OCT2020-000001.pdf"]
    text = " ".join(" ".join(page.extract_text().split())
                    for page in PdfReader(io.BytesIO(pdf)).pages).replace("- ", "-")
    for expected in ("OCT2020-000001", "October Cloud", "Mars Corp", "1–31 Oct 2020 (UTC)",
                     "Instance: 4 CPU, 16 GB Memory", "Disk: 500GB Virtual Disk",
                     "$66,960.00", "$33,480.00", "−$495.00", "−$247.50", "Downgraded instances",
                     "$0.10 per minute", "$100,440.00", "$99,697.50"):
        assert expected in text, expected
    # The same PDF over the API.
    status, served = api.call("GET", f"invoices/{drafts[0]['id']}/pdf")
    assert status == 200 and served == pdf
