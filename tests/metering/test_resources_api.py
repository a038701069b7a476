"""The lifecycle API: POST /api/v1/resources/events and GET /api/v1/resources/{id}."""

import json

import pytest
from django.contrib.auth import get_user_model

from accounts.api_keys import api_key_issue
from accounts.models import Role, RoleGrant
from metering.domain.lifecycle import ERR_STARTED_TWICE
from metering.ingestion import ERR_NOT_A_LIST, ERR_TOO_MANY, MAX_BATCH
from metering.models import IngestionDay, LifecycleEvent, Resource
from tests.conftest import PASSWORD, host_client, inside, sign_in
from tests.metering.conftest import event

EVENTS = "/api/v1/resources/events"
User = get_user_model()


def bearer(provider, username: str) -> dict:
    with inside(provider):
        issued = api_key_issue(username=username, name=f"{username}-key")
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def user_with(role: str, *, organization=None, project=None, username=None) -> str:
    username = username or role.replace("_", "-")
    user = User.objects.create_user(username=username, password=PASSWORD)
    RoleGrant.objects.create(user=user, role=role, organization=organization, project=project)
    return username


def post(client, body, **headers):
    return client.post(EVENTS, data=json.dumps(body), content_type="application/json",
                       **headers)


@pytest.fixture
def admin_key(fleet):
    return bearer(fleet.provider, "alice")


def test_ingest_answers_200_with_one_outcome_per_event(fleet, admin_key):
    response = post(host_client(fleet.provider), {"events": [
        event("e1"),
        event("e2", "started", at="2026-11-02T00:00:00Z"),
        event("e1"),
    ]}, **admin_key)
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 1, "duplicate": 1, "refused": 1,
        "items": [
            {"index": 0, "event_id": "e1", "status": "accepted"},
            {"index": 1, "event_id": "e2", "status": "refused",
             "reason": ERR_STARTED_TWICE.format(resource="i-1", at="2026-11-02T00:00:00Z")},
            {"index": 2, "event_id": "e1", "status": "duplicate",
             "reason": "event 'e1' repeats item 0 of this batch"},
        ],
    }
    with inside(fleet.provider):
        assert list(LifecycleEvent.objects.values_list("event_id", flat=True)) == ["e1"]
        assert IngestionDay.objects.get(stream="lifecycle").refused == 1


def test_a_bare_json_array_is_a_batch_too_and_resending_it_is_a_no_op(fleet, admin_key):
    client = host_client(fleet.provider)
    batch = [event("e1"), event("e2", "stopped", at="2026-11-02T00:00:00Z")]
    first = post(client, batch, **admin_key)
    again = post(client, batch, **admin_key)
    assert first.status_code == again.status_code == 200
    assert (first.json()["accepted"], again.json()["duplicate"]) == (2, 2)
    with inside(fleet.provider):
        assert LifecycleEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ('{"events": [', None),
        (json.dumps({"events": {"event_id": "e1"}}), {"events": [ERR_NOT_A_LIST]}),
        (json.dumps({"items": []}), {"events": [ERR_NOT_A_LIST]}),
        (json.dumps("events"), {"events": [ERR_NOT_A_LIST]}),
        (json.dumps([event(f"e{n}") for n in range(MAX_BATCH + 1)]),
         {"events": [ERR_TOO_MANY.format(max=MAX_BATCH, count=MAX_BATCH + 1)]}),
    ],
)
def test_a_malformed_body_is_400_with_the_envelope_and_stores_nothing(
    fleet, admin_key, body, fields
):
    response = host_client(fleet.provider).post(
        EVENTS, data=body, content_type="application/json", **admin_key
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400
    if fields is None:
        assert error["code"] == "parse_error"
    else:
        assert error["fields"] == fields
    with inside(fleet.provider):
        assert not LifecycleEvent.objects.exists()
        assert not IngestionDay.objects.exists()


def test_ingest_requires_a_fleet_admin(fleet):
    with inside(fleet.provider):
        viewer = user_with(Role.FLEET_VIEWER)
        org_admin = user_with(Role.ORG_ADMIN, organization=fleet.org)
    client = host_client(fleet.provider)
    anonymous = post(client, [event("e1")])
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["status"] == 401
    for username in (viewer, org_admin):
        refused = post(client, [event("e1")], **bearer(fleet.provider, username))
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == "Only a fleet billing admin may do this."
    with inside(fleet.provider):
        assert not LifecycleEvent.objects.exists()


def test_a_fleet_admin_session_may_ingest(fleet):
    with inside(fleet.provider):
        user = user_with(Role.FLEET_ADMIN)
        User.objects.filter(username=user).update(is_staff=True)  # signs in through admin
    client = host_client(fleet.provider)
    assert sign_in(client, user)
    response = post(client, [event("e1")])
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


def _resource_fixture(fleet, admin_key):
    response = post(host_client(fleet.provider), [
        event("e1", attributes={"name": "web-1"}),
        event("e2", "stopped", at="2026-11-02T00:00:00Z"),
        event("e3", "resized", at="2026-11-03T00:00:00Z", variant="8cpu-32gb"),
        event("d1", resource_id="d-1", resource_type="disk", variant="500gb",
              parent_resource_id="i-1"),
        event("x1", resource_id="x-1", project="elsewhere"),
    ], **admin_key)
    assert response.json()["accepted"] == 5


def test_resource_detail_shows_events_and_state(fleet, admin_key, django_assert_max_num_queries):
    _resource_fixture(fleet, admin_key)
    client = host_client(fleet.provider)
    with django_assert_max_num_queries(12):
        response = client.get("/api/v1/resources/i-1", **admin_key)
    assert response.status_code == 200
    assert response.json() == {
        "resource_id": "i-1",
        "resource_type": "instance",
        "variant": "8cpu-32gb",
        "project": "adventure",
        "region": "mars",
        "service_class": "standard",
        "parent_resource_id": None,
        "attributes": {"name": "web-1"},
        "created_by": None,
        "state": "stopped",
        "complete": True,
        "consistent": True,
        "events": [
            {"event_id": "e1", "kind": "created", "occurred_at": "2026-11-01T00:00:00Z",
             "variant": "4cpu-16gb", "received_at": response.json()["events"][0]["received_at"]},
            {"event_id": "e2", "kind": "stopped", "occurred_at": "2026-11-02T00:00:00Z",
             "variant": "4cpu-16gb", "received_at": response.json()["events"][1]["received_at"]},
            {"event_id": "e3", "kind": "resized", "occurred_at": "2026-11-03T00:00:00Z",
             "variant": "8cpu-32gb", "received_at": response.json()["events"][2]["received_at"]},
        ],
    }
    disk = client.get("/api/v1/resources/d-1", **admin_key).json()
    assert (disk["parent_resource_id"], disk["state"]) == ("i-1", "running")


def test_resource_detail_is_404_outside_the_callers_projects(fleet, admin_key):
    _resource_fixture(fleet, admin_key)
    with inside(fleet.provider):
        project_viewer = user_with(Role.PROJECT_BILLING_VIEWER, project=fleet.adventure)
        org_viewer = user_with(Role.ORG_BILLING_VIEWER, organization=fleet.org)
        fleet_viewer = user_with(Role.FLEET_VIEWER)
        nobody = User.objects.create_user(username="nobody", password=PASSWORD).username
    client = host_client(fleet.provider)
    cases = [
        (project_viewer, "i-1", 200), (project_viewer, "x-1", 404),
        (org_viewer, "d-1", 200), (org_viewer, "x-1", 404),
        (fleet_viewer, "x-1", 200), (nobody, "i-1", 404),
        (project_viewer, "i-404", 404),
    ]
    for username, resource_id, status in cases:
        response = client.get(f"/api/v1/resources/{resource_id}",
                              **bearer(fleet.provider, username))
        assert response.status_code == status, (username, resource_id)
        if status == 404:
            assert response.json()["error"]["status"] == 404
            assert "i-1" not in response.content.decode()
    assert client.get("/api/v1/resources/i-1").status_code == 401


def test_alphas_key_is_401_on_beta_and_alphas_resources_are_invisible_there(
    fleet, admin_key, beta
):
    _resource_fixture(fleet, admin_key)
    on_beta = host_client(beta)
    refused = post(on_beta, [event("e9")], **admin_key)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "Invalid API key."
    assert on_beta.get("/api/v1/resources/i-1", **admin_key).status_code == 401

    bob = bearer(beta, "bob")
    assert on_beta.get("/api/v1/resources/i-1", **bob).status_code == 404
    # On beta, alpha's project and catalog do not exist either.
    response = post(on_beta, [event("e9")], **bob)
    assert response.status_code == 200
    assert response.json()["items"][0]["fields"].keys() == {"resource_type", "project",
                                                            "region"}
    with inside(beta):
        assert not Resource.objects.exists() and not LifecycleEvent.objects.exists()
    with inside(fleet.provider):
        assert LifecycleEvent.objects.count() == 5


def test_the_openapi_schema_documents_the_endpoints_without_warnings(fleet, admin_key, capsys):
    response = host_client(fleet.provider).get("/api/schema/?format=json", **admin_key)
    assert response.status_code == 200
    schema = json.loads(response.content)
    ingest = schema["paths"]["/api/v1/resources/events"]["post"]
    assert "200 even when" in ingest["description"]
    assert {"200", "400"} <= set(ingest["responses"])
    assert "get" in schema["paths"]["/api/v1/resources/{resource_id}"]
    warnings = capsys.readouterr().err
    assert "metering/" not in warnings
    for name in ("LifecycleEvent", "ResourceDetail", "ItemOutcome", "StoredEvent"):
        assert name not in warnings


def test_fractional_numbers_in_attributes_are_stored_as_the_numbers_sent(fleet, admin_key):
    client = host_client(fleet.provider)
    body = {"events": [
        event("f1", attributes={"size": 1.5, "tier": 2, "deep": {"ratio": 0.1}}),
        event("f2", "resized", at="2026-11-02T00:00:00Z", variant="8cpu-32gb",
              attributes={"size": 2.25}),
    ]}
    response = post(client, body, **admin_key)
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2
    with inside(fleet.provider):
        assert Resource.objects.get(resource_id="i-1").attributes == {
            "size": 2.25, "tier": 2, "deep": {"ratio": 0.1}}
