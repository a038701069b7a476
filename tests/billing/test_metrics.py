"""/metrics: Prometheus's text format for operators, behind a token; request metrics from
django-prometheus and Tally's own figures per provider."""

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from catalog.services.metrics import metric_create
from cycles.clock import clock_now
from invoicing.jobs import rate_open_cycles
from metering.usage_ingest import usage_events_ingest
from tests.conftest import host_client, inside
from tests.factories import make_org, make_project

TOKEN = "scrape-token-for-tests"


def _samples(body: bytes) -> dict[tuple, float]:
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_need_the_token(db, settings):
    client = host_client(None)
    settings.TALLY_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.TALLY_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_metrics_count_ingestion_rating_and_queues_per_provider(alpha, beta, settings):
    settings.TALLY_METRICS_TOKEN = TOKEN
    with inside(alpha):
        now = clock_now()
        metric_create(key="api-calls", name="API calls", aggregation="sum")
        make_project("webshop", make_org("mars-corp"))
        events = [{"event_id": f"e{i}", "metric": "api-calls", "project": "webshop",
                   "occurred_at": (now - timedelta(minutes=i)).isoformat(), "value": "1"}
                  for i in range(3)]
        events.append({"event_id": "bad", "metric": "nope", "project": "webshop",
                       "occurred_at": now.isoformat(), "value": "1"})
        usage_events_ingest(items=events, now=now)
        rate_open_cycles(now=now)

    response = host_client(None).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = _samples(response.content)
    alpha_usage = (("provider", "alpha"), ("stream", "usage"))
    assert samples[("tally_events_accepted_total", alpha_usage)] == 3
    assert samples[("tally_events_refused_total", alpha_usage)] == 1
    lag = samples[("tally_rating_lag_seconds", (("provider", "alpha"),))]
    assert 0 <= lag < 3600
    assert samples[("tally_invoices_finalized_total", (("provider", "beta"),))] == 0
    assert ("tally_deliveries_failed", (("kind", "webhook"), ("provider", "alpha"))) in samples
    queue = (("queue", settings.CELERY_TASK_DEFAULT_QUEUE),)
    assert samples[("tally_queue_depth", queue)] >= 0
    # django-prometheus's request metrics ride along.
    assert any(name.startswith("django_http_requests") for name, _ in samples)
