"""Content negotiation, generated from the OpenAPI schema: every media type an operation
declares for its success response is served when the client asks for it in `Accept`,
and a type it cannot serve is a 406 in the error envelope.

Every declared (operation, media type) pair is checked against the view's renderers
through DRF's own negotiation (no handler runs, so no write happens); the file types
(PDF, CSV, FOCUS's CSV and Parquet) are also downloaded for real.
"""

import io
import re

import pyarrow.parquet as pq
import pytest
from django.urls import resolve
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from cycles.models import BillingCycle
from tests.conftest import host_client, inside
from tests.invoicing.delivery.conftest import make_account, make_finalized_invoice
from tests.invoicing.delivery.test_payments_and_api import bearer

METHODS = ("get", "post", "put", "patch", "delete")
SAMPLE_PARAMETER = {"integer": "1", "string": "sample",
                    "uuid": "00000000-0000-4000-8000-000000000000"}


def _declared(schema: dict) -> list[tuple[str, str, str, str]]:
    """(path template, concrete path, method, media type) of every 2xx response."""
    found = []
    for template, item in schema["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            types = {p["name"]: p.get("schema", {}).get("format")
                     or p.get("schema", {}).get("type", "string")
                     for p in operation.get("parameters", []) if p["in"] == "path"}
            path = re.sub(r"\{(\w+)\}",
                          lambda m, types=types: SAMPLE_PARAMETER.get(types.get(m.group(1)),
                                                                      "sample"),
                          template)
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    for media in response.get("content", {}):
                        found.append((template, path, method, media))
    return found


@pytest.fixture
def schema(alpha):
    response = host_client(alpha).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def test_every_declared_media_type_is_negotiated(schema):
    declared = _declared(schema)
    media_types = {media for *_, media in declared}
    assert {"application/json", "application/pdf", "text/csv",
            "application/vnd.apache.parquet", "application/x-protobuf"} <= media_types
    factory = APIRequestFactory()
    refused = []
    for template, path, method, media in declared:
        view = resolve(path, urlconf="billing.urls").func
        renderers = [r() for r in view.cls.renderer_classes]
        request = Request(getattr(factory, method)(path, HTTP_ACCEPT=media))
        try:
            renderer, accepted = DefaultContentNegotiation().select_renderer(request, renderers)
        except NotAcceptable:
            refused.append((method.upper(), template, media))
            continue
        assert accepted == media or renderer.media_type == media, (template, media)
    assert refused == []


def test_file_media_types_are_served_when_asked_for(alpha, own_media):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("mars-corp"))
        label = BillingCycle.objects.get(pk=invoice.cycle_id).label
    client = host_client(alpha)
    key = bearer(alpha, "alice")

    pdf = client.get(f"/api/v1/invoices/{invoice.pk}/pdf", HTTP_ACCEPT="application/pdf", **key)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")

    items = client.get(f"/api/v1/billing/items.csv?period={label}", HTTP_ACCEPT="text/csv",
                       **key)
    assert items.status_code == 200 and items["Content-Type"].startswith("text/csv")
    assert b"".join(items.streaming_content).count(b"\n") >= 3  # header and the lines

    focus = client.get(f"/api/v1/exports/focus?period={label}",
                       HTTP_ACCEPT="application/vnd.apache.parquet", **key)
    assert focus.status_code == 200
    assert pq.read_table(io.BytesIO(focus.content)).num_rows == invoice.lines.count()

    # Quality values and wildcards pick among what the endpoint serves.
    either = client.get(f"/api/v1/exports/focus?period={label}",
                        HTTP_ACCEPT="application/json;q=0.9, text/*;q=0.5", **key)
    assert either.status_code == 200 and either["Content-Type"] == "text/csv"


def test_a_type_the_endpoint_cannot_serve_is_a_406_envelope(alpha, own_media):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("mars-corp"))
    client = host_client(alpha)
    key = bearer(alpha, "alice")
    for path in (f"/api/v1/invoices/{invoice.pk}/pdf", "/api/v1/billing/items.csv",
                 "/api/v1/invoices"):
        response = client.get(path, HTTP_ACCEPT="image/png", **key)
        assert response.status_code == 406, path
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["status"] == 406
