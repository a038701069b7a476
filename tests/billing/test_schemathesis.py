"""Issue 19: the schema tells the truth. Schemathesis (4.x) generates requests for every
operation of the OpenAPI schema and sends them to Tally in-process (WSGI, on alpha's
host, as its fleet admin), checking that no answer is a server error and that every
status code, content type and body is the one the schema declares.

Settings (kept small enough for CI): `MAX_EXAMPLES` cases per operation, derandomized
(a fixed seed: every run sends the same cases), no example database, no deadline. Path
parameters name the world's real objects, so answers are 200s with bodies to check,
not only 404s."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.billing.api_world import World, api_schema

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def run_operation(operation, world: World, app, base_url: str) -> list[str]:
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {world.keys['alice']}"}

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case):
        for name in case.path_parameters or {}:
            if name in world.path_values:
                case.path_parameters[name] = world.path_values[name]
        response = case.call(base_url=base_url, headers=headers, app=app)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 (all are reported)
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")

    check()
    return failures[:3]


@pytest.fixture
def connection_kept_open():
    """The WSGI handler closes the database connection after each request, which would
    end the test's transaction: keep it open, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_every_operation_answers_as_its_schema_says(alpha, connection_kept_open):
    world = World(alpha)
    schema = schemathesis.openapi.from_dict(api_schema())
    app = get_wsgi_application()
    base_url = f"http://{alpha.slug}.localhost"
    failures = []
    for result in schema.get_all_operations():
        failures += run_operation(result.ok(), world, app, base_url)
    assert not failures, "\n\n".join(failures)
