"""Leased work rows: the shared shape of the email outbox and webhook deliveries.

A row is `pending` (due at `next_attempt_at`, or now), claimed as `sending` with
`claimed_at` by the worker that sends it, then sent or failed. A worker that
dies leaves its row `sending`; once the lease runs out a sweep queues it again.
"""

from datetime import datetime, timedelta

from django.db.models import Model, Q


def due_ids(model: type[Model], *, pending: str, sending: str, now: datetime,
            lease_seconds: int, limit: int = 500) -> list[int]:
    """Rows a sweep should (re)queue: pending and due, or sending past the lease.
    Covers tasks lost between commit and broker, too."""
    lease_expired = now - timedelta(seconds=lease_seconds)
    return list(
        model.objects.filter(
            Q(status=pending) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            | Q(status=sending, claimed_at__lt=lease_expired)
        ).order_by("pk").values_list("pk", flat=True)[:limit]
    )
