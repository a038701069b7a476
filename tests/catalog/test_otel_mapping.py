"""A usage metric's OpenTelemetry mapping, set over the API and in the admin."""

from catalog.models import MetricPolicy
from catalog.services.metrics import metric_create
from tests.conftest import host_client, inside, sign_in
from tests.factories import make_resource_type
from tests.invoicing.delivery.test_payments_and_api import bearer

URL = "/api/v1/metrics/{key}/otel"


def test_a_fleet_admin_maps_an_otel_metric_over_the_api(alpha):
    with inside(alpha):
        metric_create(key="api-requests", name="API requests", aggregation="sum")
        make_resource_type("instance", "Instance", {"small": "1 CPU"})
    client = host_client(alpha)
    key = bearer(alpha, "alice")
    put = client.put(URL.format(key="api-requests"), {
        "otel_metric_name": "http.server.request.duration", "value": "count",
        "project_attribute": "team"}, content_type="application/json", **key)
    assert put.status_code == 200, put.content
    assert put.json() == {"metric": "api-requests",
                          "otel_metric_name": "http.server.request.duration",
                          "project_attribute": "team", "value": "count"}
    assert client.get(URL.format(key="api-requests"), **key).json() == put.json()
    with inside(alpha):
        policy = MetricPolicy.objects.get(metric__key="api-requests")
        assert (policy.otel_metric_name, policy.otel_value) == (
            "http.server.request.duration", "count")

    bad = client.put(URL.format(key="api-requests"), {"otel_metric_name": "x",
                                                      "value": "median"},
                     content_type="application/json", **key)
    assert bad.status_code == 400 and "value" in bad.json()["error"]["fields"]
    duration = client.put(URL.format(key="instance"), {"otel_metric_name": "x"},
                          content_type="application/json", **key)
    assert duration.status_code == 400 and "metric" in duration.json()["error"]["fields"]
    missing = client.put(URL.format(key="nope"), {"otel_metric_name": "x"},
                         content_type="application/json", **key)
    assert missing.status_code == 404


def test_the_admin_shows_the_otel_mapping_of_a_usage_metric(alpha):
    with inside(alpha):
        metric = metric_create(key="api-requests", name="API requests", aggregation="sum")
    client = host_client(alpha)
    assert sign_in(client, "alice")
    page = client.get(f"/admin/catalog/usagemetric/{metric.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "OpenTelemetry (OTLP) mapping" in html and "otel_metric_name" in html
