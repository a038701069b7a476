"""Signed budget webhooks: one per threshold per cycle, queued after commit, POSTed to a
real HTTP server on 127.0.0.1 that checks the Standard Webhooks signature with the
`standardwebhooks` reference library; retried with a bounded backoff."""

import base64
import json
import socket
import threading
from collections import deque
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from notifications.models import WebhookDelivery, WebhookStatus
from notifications.tasks import webhook_deliver_task
from notifications.webhooks import (
    WEBHOOK_DELIVER_TASK,
    WEBHOOK_PRIVATE_HOST,
    WebhookRetryLater,
    webhook_deliver,
    webhook_due_ids,
    webhook_retry,
)
from tests.accounts.support import Api
from tests.budgets.support import NOW, project_budget, rate_open_cycles, seed_world
from tests.conftest import inside

SECRET = "whsec-0123456789abcdef"
# A secret set before Tally generated Standard Webhooks secrets is used as its UTF-8
# bytes; the receiver's verifier takes it as `whsec_` and their base64.
RECEIVER_SECRET = "whsec_" + base64.b64encode(SECRET.encode()).decode()


def signature_valid(body: bytes, headers) -> bool:
    try:
        Webhook(RECEIVER_SECRET).verify(body, dict(headers), json_parse=False)
    except WebhookVerificationError:
        return False
    return True


class Receiver:
    """A webhook receiver: verifies each request's signature on its own (hmac, not
    Tally's code), records it, and answers the next queued status (200 when none)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: deque[int] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({
                    "path": self.path, "headers": dict(self.headers), "body": body,
                    "signature_valid": signature_valid(body, self.headers),
                })
                status = receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/budget?src=tally"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.TALLY_WEBHOOK_ALLOW_PRIVATE_HOSTS = True  # the receiver is on 127.0.0.1
    settings.TALLY_WEBHOOK_TIMEOUT_SECONDS = 5
    server = Receiver()
    yield server
    server.close()


def _world_with_webhook(url):
    world = seed_world()
    budget = project_budget(world, emails=[], webhook_url=url, webhook_secret=SECRET)
    return world, budget


def _deliveries():
    return list(WebhookDelivery.objects.order_by("details__threshold"))


def test_one_signed_webhook_per_threshold_queued_after_commit(
        beta, receiver, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("tenancy.jobs.current_app.send_task",
                        lambda name, **kw: queued.append((name, kw)))
    with inside(beta):
        _, budget = _world_with_webhook(receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            rate_open_cycles(now=NOW)
            assert queued == []  # nothing leaves before the transaction commits
        rate_open_cycles(now=NOW)  # a re-run queues nothing new

        deliveries = _deliveries()
        assert [(d.details["threshold"], d.status, d.attempts) for d in deliveries] == [
            (50, WebhookStatus.PENDING, 0), (80, WebhookStatus.PENDING, 0)]
        assert [q for q in queued if q[0] == WEBHOOK_DELIVER_TASK] == [
            (WEBHOOK_DELIVER_TASK, {"args": (d.pk,), "headers": {"_schema_name": "beta"},
                                    "countdown": None})
            for d in deliveries
        ]
        # The rating run (committed once here) queued the budget check that sent them.
        assert [q[0] for q in queued if q[0] != WEBHOOK_DELIVER_TASK] == [
            "budgets.tasks.budget_alerts_evaluate"]

        assert webhook_deliver(delivery_id=deliveries[1].pk, now=NOW) is True
        assert webhook_deliver(delivery_id=deliveries[1].pk, now=NOW) is False

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["signature_valid"] is True
    assert request["path"] == "/hooks/budget?src=tally"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Tally-Event"] == "budget.threshold_crossed"
    assert request["headers"]["webhook-id"] == f"budget:{budget.pk}:2020-10:80"
    assert request["headers"]["webhook-signature"].startswith("v1,")
    # Tampered bytes or another secret fail the reference verifier.
    assert not signature_valid(request["body"] + b" ", request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"another-secret").decode()).verify(
            request["body"], request["headers"])
    payload = json.loads(request["body"])
    assert payload == {
        "id": f"budget:{budget.pk}:2020-10:80",
        "type": "budget.threshold_crossed",
        "created_at": "2020-10-11T00:00:00Z",
        "provider": "beta",
        "budget": {"id": budget.pk, "name": "Adventure monthly", "scope": "project",
                   "organization": "mars-corp", "project": "adventure", "amount": "2500.00",
                   "thresholds": [50, 80, 100]},
        "cycle": {"label": "2020-10", "start": "2020-10-01T00:00:00Z",
                  "end": "2020-11-01T00:00:00Z"},
        "threshold": 80,
        "currency": "USD",
        "spend": "2160.00",
        "percent_used": "86.4",
    }
    with inside(beta):
        delivered = WebhookDelivery.objects.get(details__threshold=80)
        assert (delivered.status, delivered.attempts, delivered.last_status_code,
                delivered.delivered_at) == (WebhookStatus.DELIVERED, 1, 200, NOW)


def test_a_transient_failure_is_retried_after_its_backoff(beta, receiver):
    receiver.statuses.extend([503])
    with inside(beta):
        _world_with_webhook(receiver.url)
        rate_open_cycles(now=NOW)
        delivery = _deliveries()[0]

        with pytest.raises(WebhookRetryLater) as retry:
            webhook_deliver(delivery_id=delivery.pk, now=NOW)
        assert retry.value.delay == 30
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code,
                delivery.last_error) == (WebhookStatus.PENDING, 1, 503, "HTTP 503")
        assert delivery.next_attempt_at == NOW + timedelta(seconds=30)
        # Not due yet: a redelivered task does nothing.
        assert webhook_deliver(delivery_id=delivery.pk, now=NOW) is False
        assert delivery.pk not in webhook_due_ids(now=NOW)
        later = NOW + timedelta(seconds=31)
        assert delivery.pk in webhook_due_ids(now=later)

        assert webhook_deliver(delivery_id=delivery.pk, now=later) is True
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code,
                delivery.last_error) == (WebhookStatus.DELIVERED, 2, 200, "")
    assert [r["signature_valid"] for r in receiver.requests] == [True, True]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]  # same bytes
    # A retry is the same message: same webhook-id, signed again when it leaves.
    assert (receiver.requests[0]["headers"]["webhook-id"]
            == receiver.requests[1]["headers"]["webhook-id"])


def test_retries_are_bounded_and_the_final_failure_is_recorded(beta, receiver, settings):
    settings.TALLY_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.statuses.extend([500, 502, 500, 200])
    with inside(beta):
        _world_with_webhook(receiver.url)
        rate_open_cycles(now=NOW)
        delivery = _deliveries()[0]
        now = NOW
        delays = []
        for _ in range(2):
            with pytest.raises(WebhookRetryLater) as retry:
                webhook_deliver(delivery_id=delivery.pk, now=now)
            delays.append(retry.value.delay)
            now += timedelta(hours=2)
        assert webhook_deliver(delivery_id=delivery.pk, now=now) is False
        assert delays == [30, 60]
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code,
                delivery.last_error) == (WebhookStatus.FAILED, 3, 500, "HTTP 500")
        assert webhook_deliver(delivery_id=delivery.pk, now=now) is False
        assert delivery.pk not in webhook_due_ids(now=now + timedelta(days=1))

        # An operator puts it back; the next attempt gets the 200.
        assert webhook_retry(delivery_id=delivery.pk) is True
        assert webhook_deliver(delivery_id=delivery.pk, now=now) is True
    assert len(receiver.requests) == 4


def test_a_client_error_fails_at_once(beta, receiver):
    receiver.statuses.extend([410])
    with inside(beta):
        _world_with_webhook(receiver.url)
        rate_open_cycles(now=NOW)
        delivery = _deliveries()[0]
        assert webhook_deliver(delivery_id=delivery.pk, now=NOW) is False
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            WebhookStatus.FAILED, 1, 410)


def test_a_receiver_that_is_down_is_a_transient_failure(beta, settings):
    settings.TALLY_WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with inside(beta):
        _world_with_webhook(f"http://127.0.0.1:{port}/hook")
        rate_open_cycles(now=NOW)
        delivery = _deliveries()[0]
        with pytest.raises(WebhookRetryLater):
            webhook_deliver(delivery_id=delivery.pk, now=NOW)
        delivery.refresh_from_db()
        assert delivery.status == WebhookStatus.PENDING and delivery.last_status_code is None
        assert "ConnectionRefusedError" in delivery.last_error


def test_private_receivers_are_refused_by_default(beta, receiver, settings):
    settings.TALLY_WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    with inside(beta):
        _world_with_webhook(receiver.url)
        rate_open_cycles(now=NOW)
        delivery = _deliveries()[0]
        assert webhook_deliver(delivery_id=delivery.pk, now=NOW) is False
        delivery.refresh_from_db()
        assert delivery.status == WebhookStatus.FAILED
        assert delivery.last_error == WEBHOOK_PRIVATE_HOST.format(host="127.0.0.1",
                                                                  address="127.0.0.1")
    assert receiver.requests == []


def test_the_task_delivers_in_the_providers_schema(beta, receiver):
    with inside(beta):
        _world_with_webhook(receiver.url)
        rate_open_cycles(now=NOW)
        delivery = _deliveries()[0]
        # Run locally (not through the broker): the task only loads the id and calls
        # the service.
        assert webhook_deliver_task.apply(args=(delivery.pk,)).get() is True
        delivery.refresh_from_db()
        assert delivery.status == WebhookStatus.DELIVERED
    assert [r["signature_valid"] for r in receiver.requests] == [True]


def test_a_delivered_webhook_is_sent_again_by_hand_with_the_same_id(
        beta, receiver, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("tenancy.jobs.current_app.send_task", lambda name, **kw: None)
    with inside(beta):
        _, budget = _world_with_webhook(receiver.url)
        rate_open_cycles(now=NOW)
        delivery = _deliveries()[0]
        assert webhook_deliver(delivery_id=delivery.pk, now=NOW) is True
    url = f"/api/v1/budgets/{budget.pk}/webhook-deliveries/{delivery.pk}/resend"
    # A viewer sees the deliveries but may not send them again.
    assert Api(beta, "orgviewer").post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=False):
        again = Api(beta, "orgadmin").post(url)
    assert again.status_code == 202, again.content
    assert (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
    # Pending already: nothing to send again.
    assert Api(beta, "orgadmin").post(url).status_code == 400
    with inside(beta):
        assert webhook_deliver(delivery_id=delivery.pk, now=NOW) is True
    first, second = receiver.requests
    assert second["headers"]["webhook-id"] == first["headers"]["webhook-id"]
    assert second["body"] == first["body"]
    assert second["signature_valid"] is True
