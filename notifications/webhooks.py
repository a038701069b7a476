"""Outgoing webhooks: one signed POST per event and receiver, retried until it lands.

- `webhook_enqueue` is idempotent by `key`: the same key twice keeps the first row and
  queues nothing new.
- `webhook_deliver` claims the row with a conditional UPDATE before the request (no
  transaction is held open over the network), so two workers never both send it; a
  worker killed mid-request leaves it `sending` until the lease ends, after which it
  may be sent again (receivers dedupe on `webhook-id`).
- Every attempt is signed by the Standard Webhooks spec (notifications/signing.py) at
  the moment it leaves: a retry keeps its `webhook-id` and body, with a fresh
  `webhook-timestamp`, so receivers' 5-minute tolerance holds for late retries.
- Transient failures (network, timeout, 5xx, 429) are retried with exponential
  backoff up to `TALLY_WEBHOOK_MAX_ATTEMPTS`; permanent ones (4xx, private receivers)
  and the last transient one leave the row `failed` with its error.
"""

import http.client
import ipaddress
import logging
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet

from core.leases import due_ids
from core.retries import backoff_seconds
from cycles.clock import real_now
from notifications.models import WebhookDelivery, WebhookStatus
from notifications.signing import webhook_headers
from tenancy.jobs import queue_after_commit, queue_in_schema

logger = logging.getLogger(__name__)

WEBHOOK_DELIVER_TASK = "notifications.tasks.webhook_deliver"
WEBHOOK_USER_AGENT = "Tally-Webhooks/1"
WEBHOOK_PRIVATE_HOST = "refused: {host} resolves to a private or local address ({address})"


class WebhookRetryLater(Exception):
    """A transient failure: the task should run again after `delay` seconds."""

    def __init__(self, message: str, delay: float):
        super().__init__(message)
        self.delay = delay


@dataclass(frozen=True)
class WebhookPolicy:
    max_attempts: int
    backoff_seconds: int
    backoff_max_seconds: int
    lease_seconds: int
    timeout_seconds: int
    allow_private_hosts: bool


def webhook_policy() -> WebhookPolicy:
    """Settings with defaults (TALLY_WEBHOOK_*): 6 attempts, 30 s doubling up to an hour,
    a 5-minute lease, a 10-second timeout, and no private or local receivers."""
    return WebhookPolicy(
        max_attempts=int(getattr(settings, "TALLY_WEBHOOK_MAX_ATTEMPTS", 6)),
        backoff_seconds=int(getattr(settings, "TALLY_WEBHOOK_BACKOFF_SECONDS", 30)),
        backoff_max_seconds=int(getattr(settings, "TALLY_WEBHOOK_BACKOFF_MAX_SECONDS", 3600)),
        lease_seconds=int(getattr(settings, "TALLY_WEBHOOK_LEASE_SECONDS", 300)),
        timeout_seconds=int(getattr(settings, "TALLY_WEBHOOK_TIMEOUT_SECONDS", 10)),
        allow_private_hosts=bool(getattr(settings, "TALLY_WEBHOOK_ALLOW_PRIVATE_HOSTS", False)),
    )


@dataclass(frozen=True)
class WebhookEvent:
    """What to send: `key` makes it once-only, `subject` says what it is about."""

    key: str
    event: str
    subject: str
    message_id: str
    body: str
    details: dict


def webhook_enqueue(*, event: WebhookEvent, url: str, secret: str,
                    now: datetime) -> WebhookDelivery | None:
    """Record one delivery and send it after the surrounding transaction commits.
    None when a delivery with this key exists already (nothing new is queued)."""
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                key=event.key, event=event.event, subject=event.subject,
                details=event.details, message_id=event.message_id, url=url, secret=secret,
                body=event.body, created_at=now,
            )
    except IntegrityError:
        return None
    queue_after_commit(WEBHOOK_DELIVER_TASK, delivery.pk)
    return delivery


def webhook_deliveries_for(*, subject: str) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(subject=subject).order_by("-created_at", "-id")


class _Permanent(Exception):
    """A failure retrying cannot fix (refused address, 4xx answer)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _Transient(Exception):
    """A failure worth retrying (network, timeout, 5xx, 429)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _check_host(host: str, port: int, policy: WebhookPolicy) -> None:
    """Refuse receivers on private, loopback or link-local addresses: a subscriber may be
    a consumer, and must not make Tally's workers call into the provider's network.
    (A DNS answer that changes between this check and the connection is not covered.)"""
    if policy.allow_private_hosts:
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise _Transient(f"cannot resolve {host}: {error}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise _Permanent(WEBHOOK_PRIVATE_HOST.format(host=host, address=address))


def _post(url: str, body: bytes, headers: dict[str, str], policy: WebhookPolicy) -> int:
    """POST once, no redirects followed; the answer's status code (2xx), else raises."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    _check_host(parts.hostname or "", port, policy)
    connection_class = (http.client.HTTPSConnection if parts.scheme == "https"
                        else http.client.HTTPConnection)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = connection_class(parts.hostname, port, timeout=policy.timeout_seconds)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(65536)
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        raise _Transient(f"{type(error).__name__}: {error}") from None
    finally:
        conn.close()
    if 200 <= status < 300:
        return status
    if status == 429 or status >= 500:
        raise _Transient(f"HTTP {status}", status)
    raise _Permanent(f"HTTP {status}", status)


def _claim(delivery_id: int, now: datetime, policy: WebhookPolicy) -> bool:
    """One UPDATE, so exactly one caller moves the row to `sending`."""
    lease_expired = now - timedelta(seconds=policy.lease_seconds)
    claimable = Q(status=WebhookStatus.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    ) | Q(status=WebhookStatus.SENDING, claimed_at__lt=lease_expired)
    return bool(WebhookDelivery.objects.filter(claimable, pk=delivery_id).update(
        status=WebhookStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
    ))


def _headers(delivery: WebhookDelivery) -> dict[str, str]:
    # Signed at the wall clock's now, not the caller's (a sandbox's test clock, a test's
    # fixed instant): receivers check `webhook-timestamp` against their own clock.
    signed_at = real_now()
    return {
        "Content-Type": "application/json",
        "User-Agent": WEBHOOK_USER_AGENT,
        "X-Tally-Event": delivery.event,
        **webhook_headers(secret=delivery.secret, message_id=delivery.message_id,
                          body=delivery.body, at=signed_at),
    }


def webhook_deliver(*, delivery_id: int, now: datetime) -> bool:
    """POST one delivery if it is due and nobody else has it; True if this call
    delivered it. Raises WebhookRetryLater after a transient failure with attempts left."""
    policy = webhook_policy()
    if not _claim(delivery_id, now, policy):
        return False
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    body = delivery.body.encode()
    sending = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookStatus.SENDING)
    try:
        status = _post(delivery.url, body, _headers(delivery), policy)
    except _Transient as error:
        _transient_failure(delivery, sending, error, now, policy)
        return False
    except _Permanent as error:
        sending.update(status=WebhookStatus.FAILED, last_error=str(error)[:2000],
                       last_status_code=error.status, next_attempt_at=None)
        logger.error("webhook %s failed for good: %s", delivery_id, error)
        return False
    sending.update(status=WebhookStatus.DELIVERED, last_status_code=status, last_error="",
                   delivered_at=now, next_attempt_at=None)
    return True


def _transient_failure(delivery: WebhookDelivery, sending: QuerySet, error: _Transient,
                       now: datetime, policy: WebhookPolicy) -> None:
    """Back to pending with a backoff (raises WebhookRetryLater), or failed for good."""
    text = str(error)[:2000]
    if delivery.attempts < policy.max_attempts:
        delay = backoff_seconds(attempts=delivery.attempts, base=policy.backoff_seconds,
                                cap=policy.backoff_max_seconds)
        sending.update(status=WebhookStatus.PENDING, last_error=text,
                       last_status_code=error.status,
                       next_attempt_at=now + timedelta(seconds=delay))
        logger.warning("webhook %s: transient failure, retry in %ss: %s",
                       delivery.pk, delay, text)
        raise WebhookRetryLater(text, delay) from None
    sending.update(status=WebhookStatus.FAILED, last_error=text,
                   last_status_code=error.status, next_attempt_at=None)
    logger.error("webhook %s failed for good after %d attempts: %s",
                 delivery.pk, delivery.attempts, text)


def webhook_due_ids(*, now: datetime) -> list[int]:
    """Deliveries a sweep should (re)queue (core/leases.py)."""
    return due_ids(WebhookDelivery, pending=WebhookStatus.PENDING,
                   sending=WebhookStatus.SENDING, now=now,
                   lease_seconds=webhook_policy().lease_seconds)


def webhook_sweep(*, now: datetime) -> int:
    """Queue delivery of every due webhook (a beat safety net). Returns how many."""
    schema_name = connection.schema_name
    ids = webhook_due_ids(now=now)
    for delivery_id in ids:
        queue_in_schema(WEBHOOK_DELIVER_TASK, delivery_id, schema_name=schema_name)
    return len(ids)


def webhook_retry(*, delivery_id: int) -> bool:
    """Operator action: put a failed delivery back in the queue (attempts start over)."""
    with transaction.atomic():
        updated = WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookStatus.FAILED
        ).update(status=WebhookStatus.PENDING, attempts=0, next_attempt_at=None)
        if updated:
            queue_after_commit(WEBHOOK_DELIVER_TASK, delivery_id)
    return bool(updated)


def webhook_resend(*, delivery_id: int) -> bool:
    """Send a delivered or failed delivery again, by hand (an operator, or whoever may
    change its subject): the same `webhook-id` and body, signed anew when it leaves, its
    attempts starting over. A delivery still pending or sending is left as it is."""
    with transaction.atomic():
        updated = WebhookDelivery.objects.filter(
            pk=delivery_id, status__in=(WebhookStatus.DELIVERED, WebhookStatus.FAILED)
        ).update(status=WebhookStatus.PENDING, attempts=0, next_attempt_at=None)
        if updated:
            queue_after_commit(WEBHOOK_DELIVER_TASK, delivery_id)
    return bool(updated)
