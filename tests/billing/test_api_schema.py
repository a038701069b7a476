"""The API's contract: an OpenAPI schema, offline docs, one error envelope everywhere."""

import subprocess
import sys
from pathlib import Path

from tests.billing.api_world import api_schema, operations
from tests.conftest import host_client

ROOT = Path(__file__).resolve().parents[2]


def test_the_openapi_schema_describes_the_endpoints(alpha):
    response = host_client(alpha).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in ("/api/v1/system/billing", "/api/v1/system/billing/{resource_type}",
                 "/api/v1/organizations/{org_name}/billing",
                 "/api/v1/projects/{project_name}/billing", "/api/v1/resources/events",
                 "/api/v1/billing/items", "/api/v1/invoices"):
        assert path in paths, path
    assert "ApiKey" in schema["components"]["securitySchemes"]


def test_schema_generation_has_no_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--fail-on-warn", "--validate",
         "--urlconf", "billing.urls", "--file", "/dev/null"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_interactive_docs_need_no_internet(alpha):
    page = host_client(alpha).get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


def test_an_unknown_api_path_answers_the_json_envelope(alpha):
    response = host_client(alpha).get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


AREAS = {"Catalog", "Prices", "Usage", "Invoices", "Credits", "Budgets", "Accounts",
         "Exports", "Admin"}


def test_every_operation_has_an_area_a_summary_and_a_description():
    """An endpoint added without them fails here: give its view a docstring (first
    line: the summary) or extend_schema(summary=..., description=...), and a path rule
    in settings.TALLY_API_TAGS if its app's area is not the right one."""
    lacking = [
        f"{method.upper()} {path}: tags={op.get('tags')} summary={op.get('summary')!r}"
        for method, path, op in operations()
        if len(op.get("tags", [])) != 1 or op["tags"][0] not in AREAS
        or not op.get("summary") or not op.get("description")
    ]
    assert not lacking, "\n".join(lacking)


def test_every_error_status_is_documented_with_the_envelope():
    envelope = "#/components/schemas/ErrorEnvelope"
    missing = []
    for method, path, op in operations():
        responses = op["responses"]
        expected = {"400", "404", "406"}
        if {} not in op.get("security", [{}]):
            expected |= {"401", "403", "429"}
        if "requestBody" in op:
            expected |= {"413", "415"}
        missing += [f"{method.upper()} {path}: {status}" for status in expected
                    if status not in responses]
        for status, response in responses.items():
            if "/otlp/" in path:
                continue  # OTLP answers its errors as google.rpc.Status, as its spec says
            if status.startswith("4") and status not in ("401",) and "content" in response:
                schema = response["content"].get("application/json", {}).get("schema", {})
                if schema.get("$ref") != envelope and "$ref" not in schema:
                    missing.append(f"{method.upper()} {path}: {status} without the envelope")
    assert not missing, "\n".join(missing)


def test_lists_are_described_as_pages_and_ingestion_has_examples():
    paths = {path: item for path, item in api_schema()["paths"].items()}
    for path in ("/api/v1/invoices", "/api/v1/credits", "/api/v1/billing/items"):
        page = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert page["$ref"].split("/")[-1].startswith("Paginated"), path
    for path in ("/api/v1/resources/events", "/api/v1/usage/events"):
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]
        assert body.get("examples"), path
