"""Issue 17: a client generated from the OpenAPI schema by openapi-python-client builds,
and calls the API: typed models in and out, pages as pages, errors as the envelope.

The generator pins packages of its own, so it lives in .tally/openapi-client-venv,
made on first use; the generated package needs only httpx and attrs, which the test
environment has, and reaches Tally in-process (httpx's WSGI transport) on alpha's host."""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import venv
from pathlib import Path

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from metering.models import LifecycleEvent
from tests.billing.api_world import World, api_schema, operations
from tests.conftest import inside

ROOT = Path(__file__).resolve().parents[2]
GENERATOR_VERSION = "0.29.1"
GENERATOR_VENV = ROOT / ".tally" / "openapi-client-venv"
PACKAGE = "tally_api_client"


def generator() -> Path:
    command = GENERATOR_VENV / "bin" / "openapi-python-client"
    if not command.exists():
        venv.create(GENERATOR_VENV, with_pip=True)
        subprocess.run([str(GENERATOR_VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                        f"openapi-python-client=={GENERATOR_VERSION}"], check=True, timeout=600)
    return command


@pytest.fixture(scope="module")
def client_module(tmp_path_factory):
    """The generated package, importable as `tally_api_client`."""
    out = tmp_path_factory.mktemp("client")
    schema = out / "schema.json"
    schema.write_text(json.dumps(api_schema()))
    # The generator tidies its output with ruff when it finds it on PATH.
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    result = subprocess.run(
        [str(generator()), "generate", "--path", str(schema), "--meta", "none",
         "--output-path", str(out / PACKAGE)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PATH": path})
    assert (out / PACKAGE / "client.py").exists(), result.stdout[-3000:] + result.stderr[-3000:]
    sys.path.insert(0, str(out))
    yield importlib.import_module(PACKAGE)
    sys.path.remove(str(out))


@pytest.fixture
def connection_kept_open():
    """The WSGI handler closes the database connection after each request, which would
    end the test's transaction: keep it open, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_a_client_generated_from_the_schema_calls_the_api(client_module, alpha,
                                                          connection_kept_open):
    world = World(alpha)
    client = client_module.AuthenticatedClient(
        base_url=f"http://{alpha.slug}.localhost", token=world.keys["alice"],
        httpx_args={"transport": httpx.WSGITransport(app=get_wsgi_application())})
    api = importlib.import_module(f"{PACKAGE}.api.usage.resources_events_ingest")
    models = importlib.import_module(f"{PACKAGE}.models")

    # Ingest through the typed body; the answer is the typed outcome.
    body = models.LifecycleEventsIngestInput.from_dict({"events": [
        {"event_id": "gen-1", "resource_id": "i-gen", "kind": "created",
         "resource_type": "instance", "variant": "4cpu-16gb", "project": "adventure",
         "region": "mars", "occurred_at": "2020-10-05T00:00:00Z"}]})
    outcome = api.sync(client=client, body=body)
    assert isinstance(outcome, models.LifecycleEventsIngestOutput), outcome
    assert (outcome.accepted, outcome.refused) == (1, 0)
    with inside(alpha):
        assert LifecycleEvent.objects.filter(event_id="gen-1").exists()

    # A list is a page, as the schema now says.
    invoices = importlib.import_module(f"{PACKAGE}.api.invoices.v1_invoices_list")
    page = invoices.sync(client=client)
    assert isinstance(page, models.PaginatedInvoiceList)
    assert page.count == len(page.results) >= 1
    credits = importlib.import_module(f"{PACKAGE}.api.credits_.v1_credits_list").sync(
        client=client)
    assert credits.results[0].project is None  # nullable, and parsed as such

    # A refusal arrives as the error envelope, field named.
    create = importlib.import_module(f"{PACKAGE}.api.budgets.v1_projects_budgets_create")
    refused = create.sync_detailed(project_name="adventure", client=client,
                                   body=models.BudgetInput.from_dict(
                                       {"name": "a\x00b", "amount": "10", "thresholds": [50]}))
    assert refused.status_code == 400
    assert "name" in json.loads(refused.content)["error"]["fields"]


def several_media_types(op: dict) -> bool:
    return len(op.get("requestBody", {}).get("content", {})) > 1


def test_every_generated_operation_imports(client_module):
    """Each operation's module loads. openapi-python-client 0.29.1 writes code that
    does not import (`Unset` undefined) for a body offered in several media types:
    usage ingestion's JSON and CloudEvents, OTLP's protobuf and JSON. Those are left out,
    and named."""
    several = {op.get("operationId") for _, _, op in operations() if several_media_types(op)}
    broken = []
    api = importlib.import_module(f"{PACKAGE}.api")
    for area in pkgutil.iter_modules(api.__path__):
        package = importlib.import_module(f"{PACKAGE}.api.{area.name}")
        for module in pkgutil.iter_modules(package.__path__):
            try:
                importlib.import_module(f"{PACKAGE}.api.{area.name}.{module.name}")
            except NameError:
                if module.name not in several:
                    broken.append(module.name)
    assert not broken
    # OTLP takes protobuf or JSON, as the OpenTelemetry protocol says.
    assert several == {"usage_events_ingest", "otlp_metrics_export"}
