"""The API's contract: an OpenAPI schema, offline docs, one error envelope everywhere."""

import subprocess
import sys
from pathlib import Path

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
