"""The usage store's admin: read-only pages an operator can search and filter."""

from metering.lifecycle_ingest import lifecycle_events_ingest
from metering.models import LifecycleEvent, Resource
from tests.conftest import host_client, sign_in
from tests.metering.conftest import NOW, event


def _data():
    result = lifecycle_events_ingest(items=[
        event("e1", resource_id="i-1"),
        event("e2", "stopped", resource_id="i-1", at="2026-11-02T00:00:00Z"),
        event("e3", resource_id="x-1", project="elsewhere", region="venus"),
    ], now=NOW)
    assert result.accepted == 3


def test_resource_admin_lists_searches_filters_and_shows_events(fleet):
    _data()
    client = host_client(fleet.provider)
    assert sign_in(client, "alice")
    listing = client.get("/admin/metering/resource/")
    assert listing.status_code == 200
    assert b"i-1" in listing.content and b"x-1" in listing.content
    assert b"/admin/metering/resource/add/" not in listing.content

    searched = client.get("/admin/metering/resource/", {"q": "elsewhere"})
    assert b"x-1" in searched.content and b">i-1<" not in searched.content
    filtered = client.get("/admin/metering/resource/", {"region": "mars"})
    assert b">i-1<" in filtered.content and b">x-1<" not in filtered.content

    pk = Resource.objects.get(resource_id="i-1").pk
    detail = client.get(f"/admin/metering/resource/{pk}/change/")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "e1" in body and "e2" in body and 'name="_save"' not in body
    # Read-only: a POST changes nothing.
    client.post(f"/admin/metering/resource/{pk}/change/", {"region": "venus"})
    assert Resource.objects.get(pk=pk).region == "mars"
    assert client.get("/admin/metering/resource/add/").status_code == 403


def test_event_and_ingestion_day_admins_are_read_only(fleet):
    _data()
    client = host_client(fleet.provider)
    assert sign_in(client, "alice")
    events = client.get("/admin/metering/lifecycleevent/", {"q": "i-1"})
    assert events.status_code == 200
    assert b"e1" in events.content and b"e3" not in events.content
    pk = LifecycleEvent.objects.get(event_id="e1").pk
    assert client.get(f"/admin/metering/lifecycleevent/{pk}/change/").status_code == 200
    assert client.post(f"/admin/metering/lifecycleevent/{pk}/delete/").status_code == 403
    days = client.get("/admin/metering/ingestionday/")
    assert days.status_code == 200 and b"lifecycle" in days.content
