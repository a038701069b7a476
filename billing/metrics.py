"""/metrics for operators, in Prometheus's text format, behind a bearer token.

Two sources:
- django-prometheus's request metrics (its middlewares, billing/settings/base.py): counts
  and latencies per view and status. Under gunicorn each worker counts its own: set
  PROMETHEUS_MULTIPROC_DIR and they are summed (prometheus_client's multiprocess mode).
- Tally's own, read from each provider's data at scrape time, so they hold across
  processes (web, Celery workers) and restarts: events ingested, duplicate and refused
  per stream, rating lag, invoices finalized, deliveries failed; and the Celery queues'
  depth, read from the broker.
"""

import hmac
import os

import redis
from django.conf import settings
from django.db.models import Max, Q, Sum
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.http import require_GET
from django_tenants.utils import tenant_context
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from cycles.clock import clock_now
from cycles.models import BillingCycle, CycleStatus
from invoicing.models import (
    Invoice,
    InvoiceDelivery,
    InvoiceStatus,
    PaymentStatus,
    RatingRun,
    StepStatus,
)
from metering.models import IngestionDay
from notifications.models import OutboxMessage, OutboxStatus, WebhookDelivery, WebhookStatus
from tenancy.models import Provider

NO_TOKEN = "metrics are off: set TALLY_METRICS_TOKEN to serve them"


def _ingestion(families: dict, slug: str) -> None:
    totals = IngestionDay.objects.values("stream").annotate(
        accepted=Sum("accepted"), duplicate=Sum("duplicate"), refused=Sum("refused"))
    for row in totals:
        for outcome in ("accepted", "duplicate", "refused"):
            families[f"events_{outcome}"].add_metric([slug, row["stream"]], row[outcome] or 0)


def _rating_lag(families: dict, slug: str) -> None:
    """Seconds between the provider's now and what the last rating run of its current
    cycle covered: how far the upcoming invoices are behind."""
    now = clock_now()
    cycle = BillingCycle.objects.filter(start__lte=now, end__gt=now,
                                        status=CycleStatus.OPEN).first()
    if cycle is None:
        return
    rated = RatingRun.objects.filter(cycle=cycle, finished_at__isnull=False).aggregate(
        until=Max("rated_until"))["until"]
    lag = (now - (rated or cycle.start)).total_seconds()
    families["rating_lag"].add_metric([slug], max(lag, 0.0))


def _invoices_and_deliveries(families: dict, slug: str) -> None:
    finalized = Invoice.objects.exclude(status=InvoiceStatus.DRAFT).count()
    families["invoices_finalized"].add_metric([slug], finalized)
    failed_invoices = InvoiceDelivery.objects.filter(
        Q(pdf_status=StepStatus.FAILED) | Q(email_status=StepStatus.FAILED)
        | Q(payment_status=PaymentStatus.GIVEN_UP)).count()
    families["deliveries_failed"].add_metric([slug, "invoice"], failed_invoices)
    families["deliveries_failed"].add_metric(
        [slug, "webhook"], WebhookDelivery.objects.filter(status=WebhookStatus.FAILED).count())
    families["deliveries_failed"].add_metric(
        [slug, "email"], OutboxMessage.objects.filter(status=OutboxStatus.FAILED).count())


def _queue_depths(family: GaugeMetricFamily) -> None:
    """Messages waiting in each Celery queue (the default one and every stage's)."""
    default = settings.CELERY_TASK_DEFAULT_QUEUE
    names = [default] + [f"{default}.{stage}" for stage in getattr(settings, "STAGES", ())]
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
    try:
        with client.pipeline() as pipe:
            for name in names:
                pipe.llen(name)
            depths = pipe.execute()
    except redis.RedisError:
        return
    finally:
        client.close()
    for name, depth in zip(names, depths, strict=True):
        family.add_metric([name], depth)


class TallyCollector:
    """Tally's own metrics, one sample per provider (and stream, kind, queue)."""

    def describe(self):
        return []

    def collect(self):
        families = {
            **{f"events_{o}": CounterMetricFamily(
                f"tally_events_{o}", f"Events ingestion {o} (usage and lifecycle)",
                labels=["provider", "stream"]) for o in ("accepted", "duplicate", "refused")},
            "rating_lag": GaugeMetricFamily(
                "tally_rating_lag_seconds", "How far the last rating run of the current "
                "cycle is behind the provider's now", labels=["provider"]),
            "invoices_finalized": CounterMetricFamily(
                "tally_invoices_finalized", "Invoices finalized (void ones included)",
                labels=["provider"]),
            "deliveries_failed": GaugeMetricFamily(
                "tally_deliveries_failed", "Deliveries failed past their retries, waiting "
                "for an operator (invoice pipeline, webhook, email)",
                labels=["provider", "kind"]),
        }
        for provider in Provider.objects.exclude(schema_name="public").order_by("slug"):
            with tenant_context(provider):
                _ingestion(families, provider.slug)
                _rating_lag(families, provider.slug)
                _invoices_and_deliveries(families, provider.slug)
        queues = GaugeMetricFamily("tally_queue_depth", "Celery messages waiting, per queue",
                                   labels=["queue"])
        _queue_depths(queues)
        yield from families.values()
        yield queues


def _process_registry():
    """django-prometheus's request metrics: this process's, or every worker's summed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


@require_GET
def metrics(request):
    """GET /metrics with `Authorization: Bearer <TALLY_METRICS_TOKEN>`."""
    token = settings.TALLY_METRICS_TOKEN
    if not token:
        return HttpResponseNotFound(NO_TOKEN)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        return HttpResponseForbidden("a valid metrics token is required")
    # Tally's collector in a registry of its own per scrape: concurrent scrapes never
    # register the same names twice in the process-wide one.
    tally = CollectorRegistry(auto_describe=False)
    tally.register(TallyCollector())
    body = generate_latest(_process_registry()) + generate_latest(tally)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
