"""The email outbox: a row per message, written in the caller's transaction, delivered
over SMTP (Django's email framework) by a Celery task after commit.

Guarantees:
- `outbox_enqueue` is idempotent by `key`: the same key twice returns the first row and
  queues nothing new.
- `outbox_deliver` claims the row with a conditional UPDATE before it talks to the SMTP
  server, so two workers (or a redelivered task) never both send it, and a sent row is
  never sent again. A worker killed between the claim and the send leaves the row
  `sending`; after the lease it may be claimed again (at-least-once only in that window,
  between the SMTP server accepting the message and the row being marked sent).
- Transient SMTP failures (connection refused or dropped, 4xx answers) are retried with
  exponential backoff, up to `TALLY_OUTBOX_MAX_ATTEMPTS`; permanent ones (5xx, refused
  recipients) and the last transient one leave the row `failed` with its error.
"""

import logging
import smtplib
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils.html import escape

from core.leases import due_ids
from core.retries import backoff_seconds
from notifications.models import OutboxMessage, OutboxStatus
from notifications.unsubscribe import unsubscribe_headers
from tenancy.jobs import queue_after_commit, queue_in_schema

logger = logging.getLogger(__name__)

OUTBOX_DELIVER_TASK = "notifications.tasks.outbox_deliver"
ATTACHMENT_MISSING = "attachment {filename} is missing at {path}"
UNSUBSCRIBE_TEXT = "Unsubscribe from these emails"


class OutboxRetryLater(Exception):
    """A transient failure: the task should run again after `delay` seconds."""

    def __init__(self, message: str, delay: float):
        super().__init__(message)
        self.delay = delay


@dataclass(frozen=True)
class OutboxPolicy:
    max_attempts: int
    backoff_seconds: int
    backoff_max_seconds: int
    lease_seconds: int

    def delay_after(self, attempts: int) -> int:
        """Seconds to wait after the `attempts`-th failed attempt."""
        return backoff_seconds(attempts=attempts, base=self.backoff_seconds,
                               cap=self.backoff_max_seconds)


def outbox_policy() -> OutboxPolicy:
    return OutboxPolicy(
        max_attempts=settings.TALLY_OUTBOX_MAX_ATTEMPTS,
        backoff_seconds=settings.TALLY_OUTBOX_BACKOFF_SECONDS,
        backoff_max_seconds=settings.TALLY_OUTBOX_BACKOFF_MAX_SECONDS,
        lease_seconds=settings.TALLY_OUTBOX_LEASE_SECONDS,
    )


def outbox_enqueue(
    *,
    key: str,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    attachments: Sequence[tuple[str, str, str]] = (),
    unsubscribe: dict | None = None,
) -> OutboxMessage:
    """Record one email to `to` and deliver it after the surrounding transaction commits.

    Idempotent by `key`: a second call with the same key returns the existing row
    (whatever its status) and queues nothing. Attachments are
    `(filename, content_type, absolute file path)`; the files are read when sending.
    `unsubscribe` says what its one-click unsubscribe turns off (notifications/unsubscribe.py).
    """
    try:
        with transaction.atomic():
            message, created = OutboxMessage.objects.get_or_create(
                key=key,
                defaults={
                    "to": to, "subject": subject, "text": text, "html": html,
                    "attachments": [list(a) for a in attachments],
                    "unsubscribe": unsubscribe or {},
                },
            )
    except IntegrityError:
        # Another transaction inserted the same key between our SELECT and INSERT.
        return OutboxMessage.objects.get(key=key)
    if created:
        queue_after_commit(OUTBOX_DELIVER_TASK, message.pk)
    return message


def _is_transient(error: Exception) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return isinstance(
        error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | ConnectionError
        | socket.timeout | TimeoutError | OSError,
    ) and not isinstance(error, FileNotFoundError)


def _build_email(message: OutboxMessage) -> EmailMultiAlternatives:
    headers = unsubscribe_headers(message)
    text, html = message.text, message.html
    if headers:
        link = headers["List-Unsubscribe"].strip("<>")
        text = f"{text.rstrip()}\n\n{UNSUBSCRIBE_TEXT}: {link}\n"
        if html:
            footer = (f'<p style="font-size:12px;color:#555"><a href="{escape(link)}">'
                      f"{UNSUBSCRIBE_TEXT}</a></p>")
            html = html.replace("</body>", footer + "</body>") if "</body>" in html \
                else html + footer
    email = EmailMultiAlternatives(
        subject=message.subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        # The same Message-ID on every attempt: a message sent again after a worker died
        # between the SMTP server's answer and the row's update is one message to the
        # receiving servers, which drop the repeat.
        headers={**headers,
                 "Message-ID": f"<outbox-{message.pk}.{connection.schema_name}@{DNS_NAME}>"},
    )
    if html:
        email.attach_alternative(html, "text/html")
    for filename, content_type, path in message.attachments:
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(ATTACHMENT_MISSING.format(filename=filename, path=path))
        email.attach(filename, file.read_bytes(), content_type)
    return email


def outbox_deliver(*, message_id: int, now: datetime) -> bool:
    """Send one outbox message if it is due and nobody else has it. True if this call sent it.

    Raises OutboxRetryLater after a transient failure that has attempts left.
    """
    policy = outbox_policy()
    lease_expired = now - timedelta(seconds=policy.lease_seconds)
    claimable = Q(status=OutboxStatus.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    ) | Q(status=OutboxStatus.SENDING, claimed_at__lt=lease_expired)
    # The claim: one UPDATE, so exactly one caller moves the row to `sending`.
    claimed = OutboxMessage.objects.filter(claimable, pk=message_id).update(
        status=OutboxStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    message = OutboxMessage.objects.get(pk=message_id)
    try:
        _build_email(message).send(fail_silently=False)
    except Exception as error:  # noqa: BLE001 - every failure is recorded on the row
        text = f"{type(error).__name__}: {error}"[:2000]
        if _is_transient(error) and message.attempts < policy.max_attempts:
            delay = policy.delay_after(message.attempts)
            OutboxMessage.objects.filter(pk=message_id, status=OutboxStatus.SENDING).update(
                status=OutboxStatus.PENDING, last_error=text,
                next_attempt_at=now + timedelta(seconds=delay),
            )
            logger.warning("outbox %s: transient failure, retry in %ss: %s",
                           message_id, delay, text)
            raise OutboxRetryLater(text, delay) from error
        OutboxMessage.objects.filter(pk=message_id, status=OutboxStatus.SENDING).update(
            status=OutboxStatus.FAILED, last_error=text, next_attempt_at=None
        )
        logger.error("outbox %s failed for good after %d attempts: %s",
                     message_id, message.attempts, text)
        return False
    OutboxMessage.objects.filter(pk=message_id).update(
        status=OutboxStatus.SENT, sent_at=now, last_error="", next_attempt_at=None
    )
    return True


def outbox_retry(*, message_id: int) -> bool:
    """Operator action: put a failed message back in the queue (attempts start over)."""
    with transaction.atomic():
        updated = OutboxMessage.objects.filter(pk=message_id, status=OutboxStatus.FAILED).update(
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=None
        )
        if updated:
            queue_after_commit(OUTBOX_DELIVER_TASK, message_id)
    return bool(updated)


def outbox_due_ids(*, now: datetime, policy: OutboxPolicy | None = None) -> list[int]:
    """Messages a sweep should (re)queue (core/leases.py)."""
    policy = policy or outbox_policy()
    return due_ids(OutboxMessage, pending=OutboxStatus.PENDING, sending=OutboxStatus.SENDING,
                   now=now, lease_seconds=policy.lease_seconds)


def outbox_sweep(*, now: datetime) -> int:
    """Queue delivery of every due message (beat's safety net). Returns how many."""
    schema_name = connection.schema_name
    ids = outbox_due_ids(now=now)
    for message_id in ids:
        queue_in_schema(OUTBOX_DELIVER_TASK, message_id, schema_name=schema_name)
    return len(ids)
