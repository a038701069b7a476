"""OpenTelemetry metrics into Tally through the real OpenTelemetry SDK and its OTLP/HTTP
exporter, sent to Tally served by a real threaded server: the usage appears on the
upcoming invoice, and the same export sent again does not double it."""

import gzip
from decimal import Decimal
from unittest import mock

import pytest
import requests
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.db import connection
from django.test.testcases import LiveServerThread
from django_tenants.utils import tenant_context
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
)
from opentelemetry.sdk.resources import Resource

from accounts.api_keys import api_key_issue
from accounts.models import BillingAccount
from accounts.onboarding import provider_onboard
from catalog.services.list_prices import usage_price_set
from catalog.services.metrics import metric_create
from catalog.services.otel_mappings import metric_otel_mapping_set
from cycles.clock import clock_now
from invoicing.jobs import rate_open_cycles
from tenancy.models import Domain, Provider
from tests.conftest import PASSWORD
from tests.factories import make_org, make_project

SLUG = "otelcloud"
DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}


def _drop_provider(slug: str) -> None:
    connection.set_schema_to_public()
    provider = Provider.objects.filter(slug=slug).first()
    if provider is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{provider.schema_name}" CASCADE')
    Domain.objects.filter(tenant=provider).delete()
    Provider.objects.filter(pk=provider.pk).delete()


def _catalog_and_consumer() -> None:
    now = clock_now()
    for key, name, otel_name, value, unit_price in (
        ("orders", "Orders", "shop.orders", "value", "0.25"),
        ("requests", "Requests", "shop.request.duration", "count", "0.01"),
        ("request-ms", "Request time", "shop.request.duration", "sum", "0.001"),
    ):
        metric_create(key=key, name=name, aggregation="sum")
        metric_otel_mapping_set(metric_key=key, otel_metric_name=otel_name, value=value)
        usage_price_set(metric_key=key, effective_from=None, now=now,
                        charge={"model": "per_unit", "name": name, "unit_price": unit_price})
    make_project("webshop", make_org("mars-corp"))


class Tally:
    def __init__(self, provider, key: str, blocker, *, port: int):
        self.provider = provider
        self.key = key
        self.blocker = blocker
        self.url = f"http://127.0.0.1:{port}"
        self.headers = {"Host": f"{SLUG}.localhost:{port}", "Authorization": f"Bearer {key}"}

    def rate(self):
        with self.blocker.unblock(), tenant_context(self.provider):
            rate_open_cycles(now=clock_now())
            account = self.provider_account()
        connection.set_schema_to_public()
        return account

    def provider_account(self) -> int:
        return BillingAccount.objects.get(organization__name="mars-corp").pk

    def upcoming(self) -> dict[str, Decimal]:
        account = self.rate()
        body = requests.get(f"{self.url}/api/v1/billing-accounts/{account}/upcoming-invoice",
                            headers=self.headers, timeout=30).json()
        return {"total": Decimal(body["total"]),
                **{line["resource_type"]: Decimal(line["quantity"]) for line in body["lines"]}}


@pytest.fixture(scope="module")
def tally(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        _drop_provider(SLUG)
        provider = provider_onboard(slug=SLUG, name="Otel Cloud", admin_username="chief",
                                   admin_password=PASSWORD).provider
        try:
            with tenant_context(provider), mock.patch("invoicing.delivery._queue_pipeline"):
                _catalog_and_consumer()
                key = api_key_issue(username="chief", name="otel collector").secret
        finally:
            connection.set_schema_to_public()
        server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)  # a free port
        server.daemon = True
        server.start()
        server.is_ready.wait(timeout=30)
        if server.error:
            raise server.error
        try:
            yield Tally(provider, key, django_db_blocker, port=server.port)
        finally:
            server.terminate()
            _drop_provider(SLUG)
            connection.set_schema_to_public()


def _measure(reader) -> MeterProvider:
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create(
        {"service.name": "shop", "tally.project": "webshop"}))
    meter = provider.get_meter("shop")
    orders = meter.create_counter("shop.orders", unit="{order}")
    durations = meter.create_histogram("shop.request.duration", unit="ms")
    orders.add(3, {"region": "eu"})
    orders.add(4, {"region": "eu"})
    for ms in (120, 80, 200):
        durations.record(ms, {"route": "/checkout"})
    return provider


def test_sdk_exports_bill_once_on_the_upcoming_invoice(tally):
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    provider = _measure(reader)
    data = reader.get_metrics_data()
    exporter = OTLPMetricExporter(endpoint=f"{tally.url}/api/v1/otlp/v1/metrics",
                                  headers=tally.headers, timeout=30)

    assert exporter.export(data) == MetricExportResult.SUCCESS
    first = tally.upcoming()
    assert first["orders"] == 7
    assert first["requests"] == 3
    assert first["request-ms"] == 400
    # 7 x 0.25 + 3 x 0.01 + 400 x 0.001
    assert first["total"] == Decimal("2.18")

    assert exporter.export(data) == MetricExportResult.SUCCESS  # the same export again
    assert tally.upcoming() == first

    # The protobuf answer: a full success (no partial_success) for a known export.
    raw = requests.post(f"{tally.url}/api/v1/otlp/v1/metrics",
                        data=encode_metrics(data).SerializeToString(),
                        headers={**tally.headers, "Content-Type": "application/x-protobuf"},
                        timeout=30)
    assert raw.status_code == 200
    assert raw.headers["Content-Type"] == "application/x-protobuf"
    answer = ExportMetricsServiceResponse.FromString(raw.content)
    assert not answer.HasField("partial_success")
    exporter.shutdown()
    provider.shutdown()


def test_json_exports_and_partial_success_with_reasons(tally):
    reader = InMemoryMetricReader()  # cumulative temporality: refused, with the reason
    provider = _measure(reader)
    request = encode_metrics(reader.get_metrics_data())
    before = tally.upcoming()
    response = requests.post(f"{tally.url}/api/v1/otlp/v1/metrics",
                             data=json_format.MessageToJson(request),
                             headers={**tally.headers, "Content-Type": "application/json"},
                             timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    partial = response.json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "2"  # one counter series, one histogram series
    assert "cumulative temporality" in partial["errorMessage"]
    assert tally.upcoming() == before
    provider.shutdown()


def test_unmapped_metrics_and_unknown_projects_are_rejected_per_point(tally):
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create(
        {"tally.project": "no-such-project"}))
    meter = provider.get_meter("shop")
    meter.create_counter("shop.orders").add(1)
    meter.create_counter("shop.unmapped").add(1)
    request = encode_metrics(reader.get_metrics_data())
    response = requests.post(f"{tally.url}/api/v1/otlp/v1/metrics",
                             data=request.SerializeToString(),
                             headers={**tally.headers, "Content-Type": "application/x-protobuf"},
                             timeout=30)
    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_data_points == 2
    assert "no metric policy maps the OpenTelemetry metric 'shop.unmapped'" in (
        answer.partial_success.error_message)
    assert "unknown project 'no-such-project'" in answer.partial_success.error_message
    provider.shutdown()


def test_bad_bodies_and_missing_keys(tally):
    url = f"{tally.url}/api/v1/otlp/v1/metrics"
    bad = requests.post(url, data=b"\xff\x00 not protobuf",
                        headers={**tally.headers, "Content-Type": "application/x-protobuf"},
                        timeout=30)
    assert bad.status_code == 400
    assert "ExportMetricsServiceRequest" in Status.FromString(bad.content).message
    anonymous = requests.post(url, data=b"", timeout=30, headers={
        "Host": tally.headers["Host"], "Content-Type": "application/x-protobuf"})
    assert anonymous.status_code in (401, 403)


def test_gzip_exports_as_the_collector_sends_them(tally):
    reader = InMemoryMetricReader(preferred_temporality=DELTA)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create(
        {"tally.project": "webshop"}))
    provider.get_meter("collector").create_counter("shop.orders").add(5)
    body = gzip.compress(encode_metrics(reader.get_metrics_data()).SerializeToString())
    before = tally.upcoming()
    response = requests.post(f"{tally.url}/api/v1/otlp/v1/metrics", data=body, headers={
        **tally.headers, "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        timeout=30)
    assert response.status_code == 200
    assert not ExportMetricsServiceResponse.FromString(response.content).HasField(
        "partial_success")
    assert tally.upcoming()["orders"] == before["orders"] + 5
    provider.shutdown()
