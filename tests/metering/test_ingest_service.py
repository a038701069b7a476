"""lifecycle_events_ingest: item by item outcomes, timelines, finalized cycles, bounds."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from core.periods import month_period
from cycles.guard import CYCLE_FINALIZED
from cycles.models import BillingCycle, CycleStatus
from metering.domain.lifecycle import (
    ERR_AFTER_DELETED,
    ERR_CREATED_TWICE,
    ERR_STARTED_TWICE,
    ERR_VARIANT_CHANGED,
)
from metering.ingestion import (
    DUPLICATE,
    DUPLICATE_DIFFERENT,
    DUPLICATE_IN_BATCH,
    DUPLICATE_IN_BATCH_REFUSED,
    ERR_ATTRIBUTES,
    ERR_NAIVE,
    ERR_NOT_A_LIST,
    ERR_NOT_OBJECT,
    ERR_REQUIRED,
    ERR_TEXT,
    ERR_TIMESTAMP,
    ERR_TOO_MANY,
    ERR_UNKNOWN_PROJECT,
    MAX_BATCH,
)
from metering.lifecycle_ingest import lifecycle_events_ingest
from metering.lifecycle_items import (
    ERR_KIND,
    ERR_NOT_A_RESOURCE_TYPE,
    ERR_PARENT_SELF,
    ERR_SERVICE_CLASS,
    ERR_UNKNOWN_REGION,
    ERR_UNKNOWN_TYPE,
    ERR_UNKNOWN_VARIANT,
)
from metering.lifecycle_store import (
    ERR_PARENT_CYCLE,
    ERR_PARENT_UNKNOWN,
    RESOURCE_DISAGREES,
    RESOURCE_DISAGREES_IN_BATCH,
)
from metering.models import IngestionDay, LifecycleEvent, Resource
from tests.metering.conftest import NOW, event


def ingest(*items):
    return lifecycle_events_ingest(items=list(items), now=NOW)


def stored_events(resource_id="i-1"):
    return list(
        LifecycleEvent.objects.filter(resource__resource_id=resource_id)
        .order_by("occurred_at", "id")
        .values_list("event_id", "kind", "occurred_at", "variant")
    )


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_each_item_gets_its_own_outcome_in_input_order(fleet):
    result = ingest(
        event("e1", at="2026-11-01T00:00:00Z"),
        event("e1", at="2026-11-01T00:00:00Z"),
        event("e2", region="pluto"),
        event("e3", "started", at="2026-11-02T00:00:00Z"),
        event("e4", "stopped", at="2026-11-03T00:00:00Z"),
    )
    assert result.items == [
        {"index": 0, "event_id": "e1", "status": "accepted"},
        {"index": 1, "event_id": "e1", "status": "duplicate",
         "reason": DUPLICATE_IN_BATCH.format(event_id="e1", index=0)},
        {"index": 2, "event_id": "e2", "status": "refused",
         "reason": "region: " + ERR_UNKNOWN_REGION.format(key="pluto"),
         "fields": {"region": [ERR_UNKNOWN_REGION.format(key="pluto")]}},
        {"index": 3, "event_id": "e3", "status": "refused",
         "reason": ERR_STARTED_TWICE.format(resource="i-1", at="2026-11-02T00:00:00Z")},
        {"index": 4, "event_id": "e4", "status": "accepted"},
    ]
    assert (result.accepted, result.duplicate, result.refused) == (2, 1, 2)
    assert stored_events() == [
        ("e1", "created", utc(2026, 11, 1), "4cpu-16gb"),
        ("e4", "stopped", utc(2026, 11, 3), "4cpu-16gb"),
    ]
    resource = Resource.objects.select_related("metric", "project").get(resource_id="i-1")
    assert (resource.metric.key, resource.project.name, resource.region,
            resource.service_class, resource.variant, resource.parent_id) == (
        "instance", "adventure", "mars", "standard", "4cpu-16gb", None
    )
    assert LifecycleEvent.objects.get(event_id="e1").received_at == NOW


def test_resending_an_event_id_is_a_no_op_even_with_another_body(fleet):
    ingest(event("e1"))
    same = ingest(event("e1"))
    assert same.items == [{"index": 0, "event_id": "e1", "status": "duplicate",
                           "reason": DUPLICATE.format(event_id="e1")}]
    changed = ingest(event("e1", "stopped", at="2026-11-05T00:00:00+02:00"))
    assert changed.items[0]["status"] == "duplicate"
    assert changed.items[0]["reason"] == DUPLICATE_DIFFERENT.format(
        event_id="e1",
        differences="kind 'created', not 'stopped', "
        "occurred_at 2026-11-01T00:00:00Z, not 2026-11-04T22:00:00Z",
    )
    assert stored_events() == [("e1", "created", utc(2026, 11, 1), "4cpu-16gb")]


def test_resending_a_whole_batch_writes_nothing_new(fleet):
    batch = [
        event("e1", resource_id="i-1"),
        event("e2", "stopped", resource_id="i-1", at="2026-11-02T00:00:00Z"),
        event("e3", resource_id="d-1", resource_type="disk", variant="500gb",
              parent_resource_id="i-1"),
    ]
    first = lifecycle_events_ingest(items=batch, now=NOW)
    assert (first.accepted, first.duplicate, first.refused) == (3, 0, 0)
    snapshot = (list(Resource.objects.values_list("resource_id", "variant", "parent_id",
                                                  "attributes")),
                list(LifecycleEvent.objects.values_list("event_id", "received_at")))

    again = lifecycle_events_ingest(items=batch, now=NOW.replace(hour=13))
    assert [i["status"] for i in again.items] == ["duplicate"] * 3
    assert (again.accepted, again.duplicate, again.refused) == (0, 3, 0)
    assert snapshot == (
        list(Resource.objects.values_list("resource_id", "variant", "parent_id", "attributes")),
        list(LifecycleEvent.objects.values_list("event_id", "received_at")),
    )
    day = IngestionDay.objects.get(day=NOW.date(), stream="lifecycle")
    assert (day.accepted, day.duplicate, day.refused) == (3, 3, 0)


def test_a_later_event_arriving_first_is_accepted_then_the_earlier_one(fleet):
    stop = ingest(event("e2", "stopped", at="2026-11-05T00:00:00Z"))
    assert stop.items[0]["status"] == "accepted"
    create = ingest(event("e1", "created", at="2026-11-01T00:00:00Z"))
    assert create.items[0]["status"] == "accepted"
    assert [e[0] for e in stored_events()] == ["e1", "e2"]


def test_a_batch_is_checked_in_timeline_order_not_input_order(fleet):
    result = ingest(
        event("e3", "stopped", at="2026-11-03T00:00:00Z"),
        event("e2", "started", at="2026-11-02T00:00:00Z"),
        event("e1", "created", at="2026-11-01T00:00:00Z"),
    )
    # created at 1, then started at 2 is the contradiction (already running).
    assert [i["status"] for i in result.items] == ["accepted", "refused", "accepted"]
    assert result.items[1]["reason"] == ERR_STARTED_TWICE.format(
        resource="i-1", at="2026-11-02T00:00:00Z"
    )


def test_a_missing_stop_start_pair_fits_when_sent_together(fleet):
    ingest(event("e1"), event("e4", "stopped", at="2026-11-10T00:00:00Z"))
    result = ingest(
        event("e3", "started", at="2026-11-05T00:00:00Z"),
        event("e2", "stopped", at="2026-11-03T00:00:00Z"),
    )
    assert [i["status"] for i in result.items] == ["accepted", "accepted"]
    assert [e[1] for e in stored_events()] == ["created", "stopped", "started", "stopped"]


@pytest.mark.parametrize(
    ("stored", "sent", "reason"),
    [
        pytest.param(
            [event("e1")], event("e2", "started", at="2026-11-02T00:00:00Z"),
            ERR_STARTED_TWICE.format(resource="i-1", at="2026-11-02T00:00:00Z"),
            id="started-twice",
        ),
        pytest.param(
            [event("e1"), event("e2", "deleted", at="2026-11-02T00:00:00Z")],
            event("e3", "stopped", at="2026-11-03T00:00:00Z"),
            ERR_AFTER_DELETED.format(resource="i-1", deleted="2026-11-02T00:00:00Z",
                                     kind="stopped", at="2026-11-03T00:00:00Z"),
            id="event-after-deleted",
        ),
        pytest.param(
            [event("e1")], event("e2", "created", at="2026-11-02T00:00:00Z"),
            ERR_CREATED_TWICE.format(resource="i-1", first="2026-11-01T00:00:00Z",
                                     at="2026-11-02T00:00:00Z"),
            id="created-twice",
        ),
        pytest.param(
            [event("e1")], event("e2", "stopped", at="2026-11-02T00:00:00Z",
                                 variant="8cpu-32gb"),
            ERR_VARIANT_CHANGED.format(resource="i-1", current="4cpu-16gb",
                                       at="2026-11-02T00:00:00Z", variant="8cpu-32gb"),
            id="variant-changed-without-resize",
        ),
    ],
)
def test_an_event_contradicting_the_timeline_is_refused_with_why(fleet, stored, sent, reason):
    assert {i["status"] for i in ingest(*stored).items} == {"accepted"}
    before = stored_events()
    result = ingest(sent)
    assert result.items == [
        {"index": 0, "event_id": sent["event_id"], "status": "refused", "reason": reason}
    ]
    assert stored_events() == before


def test_resized_changes_the_resource_variant(fleet):
    ingest(event("e1"), event("e2", "resized", at="2026-11-02T00:00:00Z",
                               variant="8cpu-32gb"))
    assert Resource.objects.get(resource_id="i-1").variant == "8cpu-32gb"
    ingest(event("e3", "stopped", at="2026-11-03T00:00:00Z", variant="8cpu-32gb"))
    # A late event does not move the latest variant back.
    ingest(event("e0", "stopped", at="2026-10-31T00:00:00Z"))
    assert Resource.objects.get(resource_id="i-1").variant == "8cpu-32gb"


def test_events_in_a_finalized_cycle_are_refused(fleet):
    # alpha bills in Pacific/Auckland: its September ends 2026-09-30T11:00Z.
    september = month_period(2026, 9, "Pacific/Auckland")
    BillingCycle.objects.create(start=september.start, end=september.end, label="2026-09",
                                status=CycleStatus.CLOSED, closed_at=september.end)
    result = ingest(
        event("e1", at="2026-09-15T00:00:00Z"),
        event("e2", at="2026-09-30T10:59:59Z", resource_id="i-2"),
        event("e3", at="2026-09-30T11:00:00Z", resource_id="i-3"),
    )
    message = CYCLE_FINALIZED.format(when="2026-09-15T00:00:00+00:00", label="2026-09")
    assert result.items[0] == {
        "index": 0, "event_id": "e1", "status": "refused", "reason": message,
        "error": {"status": 409, "code": "cycle_finalized", "message": message,
                  "cycle": "2026-09", "fields": {"occurred_at": [message]}},
    }
    assert result.items[1]["reason"] == CYCLE_FINALIZED.format(
        when="2026-09-30T10:59:59+00:00", label="2026-09"
    )
    assert result.items[2]["status"] == "accepted"
    assert list(Resource.objects.values_list("resource_id", flat=True)) == ["i-3"]


def test_resending_after_the_cycle_was_finalized_is_still_a_duplicate(fleet):
    ingest(event("e1", at="2026-09-15T00:00:00Z"))  # makes September's cycle
    september = month_period(2026, 9, "Pacific/Auckland")
    BillingCycle.objects.filter(label="2026-09").update(status=CycleStatus.CLOSED,
                                                        closed_at=september.end)
    result = ingest(event("e1", at="2026-09-15T00:00:00Z"),
                    event("e2", "stopped", at="2026-09-16T00:00:00Z"),
                    event("e2", "stopped", at="2026-09-16T00:00:00Z"))
    assert [i["status"] for i in result.items] == ["duplicate", "refused", "refused"]
    assert result.items[2]["reason"] == DUPLICATE_IN_BATCH_REFUSED.format(event_id="e2",
                                                                          index=1)


def _fields(name, message):
    return {name: [message]}


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"project": "nowhere"},
         _fields("project", ERR_UNKNOWN_PROJECT.format(name="nowhere"))),
        ({"resource_type": "vm"}, _fields("resource_type", ERR_UNKNOWN_TYPE.format(key="vm"))),
        ({"resource_type": "requests"},
         _fields("resource_type", ERR_NOT_A_RESOURCE_TYPE.format(key="requests",
                                                                 aggregation="sum"))),
        ({"variant": "64cpu"},
         _fields("variant", ERR_UNKNOWN_VARIANT.format(variant="64cpu", type="instance"))),
        ({"resource_type": "disk"},
         _fields("variant", ERR_UNKNOWN_VARIANT.format(variant="4cpu-16gb", type="disk"))),
        ({"region": "pluto"}, _fields("region", ERR_UNKNOWN_REGION.format(key="pluto"))),
        ({"occurred_at": "2026-11-01T00:00:00"}, _fields("occurred_at", ERR_NAIVE)),
        ({"occurred_at": "yesterday"}, _fields("occurred_at", ERR_TIMESTAMP)),
        ({"occurred_at": 1700000000}, _fields("occurred_at", ERR_TIMESTAMP)),
        ({"occurred_at": ...}, _fields("occurred_at", ERR_REQUIRED)),
        ({"kind": "rebooted"}, _fields("kind", ERR_KIND)),
        ({"service_class": "gold"}, _fields("service_class", ERR_SERVICE_CLASS)),
        ({"attributes": ["a"]}, _fields("attributes", ERR_ATTRIBUTES)),
        ({"resource_id": ...}, _fields("resource_id", ERR_REQUIRED)),
        ({"resource_id": ""}, _fields("resource_id", ERR_TEXT.format(max=200))),
        ({"parent_resource_id": "i-1"}, _fields("parent_resource_id", ERR_PARENT_SELF)),
        ({"region": "pluto", "project": "nowhere"},
         {"project": [ERR_UNKNOWN_PROJECT.format(name="nowhere")],
          "region": [ERR_UNKNOWN_REGION.format(key="pluto")]}),
    ],
)
def test_bad_fields_are_refused_with_the_field_and_reason(fleet, overrides, fields):
    result = ingest(event("e1", **overrides), event("ok", resource_id="i-9"))
    refused = result.items[0]
    assert refused["status"] == "refused"
    assert refused["event_id"] == "e1"
    assert refused["fields"] == fields
    assert refused["reason"] == "; ".join(f"{k}: {v[0]}" for k, v in fields.items())
    # The rest of the batch is stored.
    assert result.items[1]["status"] == "accepted"
    assert list(Resource.objects.values_list("resource_id", flat=True)) == ["i-9"]


def test_items_that_are_not_objects_or_lack_an_id_are_refused(fleet):
    result = ingest("e1", event(...), event("e3"))
    assert result.items[0] == {"index": 0, "event_id": None, "status": "refused",
                               "reason": ERR_NOT_OBJECT}
    assert result.items[1]["fields"] == {"event_id": [ERR_REQUIRED]}
    assert result.items[1]["event_id"] is None
    assert result.items[2]["status"] == "accepted"


def test_a_malformed_item_does_not_hold_its_event_id(fleet):
    result = ingest(event("e1", region="pluto"), event("e1"))
    assert [i["status"] for i in result.items] == ["refused", "accepted"]
    assert [e[0] for e in stored_events()] == ["e1"]


def test_a_repeat_of_an_item_refused_by_the_timeline_is_refused(fleet):
    ingest(event("e0"))
    started = event("e1", "started", at="2026-11-02T00:00:00Z")
    result = ingest(started, started)
    # The first holds the id; its repeat does not get a second chance in one batch.
    assert result.items[1] == {
        "index": 1, "event_id": "e1", "status": "refused",
        "reason": DUPLICATE_IN_BATCH_REFUSED.format(event_id="e1", index=0),
    }
    assert [e[0] for e in stored_events()] == ["e0"]


def test_instants_with_an_offset_are_stored_in_utc(fleet):
    ingest(event("e1", at="2026-11-01T09:30:00+09:30"))
    assert stored_events()[0][2] == utc(2026, 11, 1, 0, 0)


@pytest.mark.parametrize(
    ("overrides", "label", "stored_value", "given"),
    [
        ({"project": "zeta"}, "project", "adventure", "zeta"),
        ({"region": "venus"}, "region", "mars", "venus"),
        ({"service_class": "spot"}, "service class", "standard", "spot"),
        ({"resource_type": "disk", "variant": "500gb"}, "type", "instance", "disk"),
        ({"parent_resource_id": "i-0"}, "parent", None, "i-0"),
    ],
)
def test_an_event_disagreeing_with_its_stored_resource_is_refused(
    fleet, overrides, label, stored_value, given
):
    ingest(event("e0", resource_id="i-0"), event("e1"))
    result = ingest(event("e2", "stopped", at="2026-11-02T00:00:00Z", **overrides))
    assert result.items[0]["status"] == "refused"
    assert result.items[0]["reason"] == RESOURCE_DISAGREES.format(
        resource="i-1", field=label, stored=stored_value, given=given
    )
    assert [e[0] for e in stored_events()] == ["e1"]


def test_events_of_a_new_resource_must_agree_within_the_batch(fleet):
    result = ingest(event("e1"), event("e2", "stopped", at="2026-11-02T00:00:00Z",
                                       project="zeta"))
    assert result.items[1]["reason"] == RESOURCE_DISAGREES_IN_BATCH.format(
        resource="i-1", field="project", first="adventure", index=0, given="zeta"
    )
    assert Resource.objects.get(resource_id="i-1").project == fleet.adventure


def test_a_parent_may_be_created_in_the_same_batch(fleet):
    result = ingest(
        event("d1", resource_id="d-1", resource_type="disk", variant="500gb",
              parent_resource_id="i-1"),
        event("n1", resource_id="n-1", resource_type="disk", variant="500gb",
              parent_resource_id="d-1"),
        event("i1", resource_id="i-1"),
    )
    assert [i["status"] for i in result.items] == ["accepted"] * 3
    parents = dict(Resource.objects.values_list("resource_id", "parent__resource_id"))
    assert parents == {"d-1": "i-1", "i-1": None, "n-1": "d-1"}
    # A stored parent works too.
    later = ingest(event("d2", resource_id="d-2", resource_type="disk", variant="500gb",
                         parent_resource_id="i-1"))
    assert later.items[0]["status"] == "accepted"
    assert Resource.objects.get(resource_id="d-2").parent.resource_id == "i-1"


def test_an_unknown_parent_refuses_the_event_and_its_dependents(fleet):
    result = ingest(
        event("d1", resource_id="d-1", resource_type="disk", variant="500gb",
              parent_resource_id="i-404"),
        event("n1", resource_id="n-1", resource_type="disk", variant="500gb",
              parent_resource_id="d-1"),
        event("i1", resource_id="i-1", region="pluto"),
        event("d2", resource_id="d-2", resource_type="disk", variant="500gb",
              parent_resource_id="i-1"),
    )
    assert result.items[0]["reason"] == ERR_PARENT_UNKNOWN.format(parent="i-404")
    assert result.items[1]["reason"] == ERR_PARENT_UNKNOWN.format(parent="d-1")
    assert result.items[3]["reason"] == ERR_PARENT_UNKNOWN.format(parent="i-1")
    assert result.refused == 4
    assert not Resource.objects.exists()


def test_resources_depending_on_each_other_in_a_cycle_are_refused(fleet):
    result = ingest(
        event("a", resource_id="x-1", parent_resource_id="x-2"),
        event("b", resource_id="x-2", parent_resource_id="x-1"),
    )
    assert [i["status"] for i in result.items] == ["refused", "refused"]
    assert result.items[0]["reason"] == ERR_PARENT_CYCLE.format(resources="x-1, x-2")
    assert not Resource.objects.exists()


def test_a_long_chain_of_new_parents_is_followed(fleet):
    chain = [event(f"c{n}", resource_id=f"c-{n}",
                   parent_resource_id=f"c-{n + 1}" if n < 1499 else None)
             for n in range(1500)]
    result = ingest(*chain)
    assert result.accepted == 1500
    assert Resource.objects.get(resource_id="c-0").parent.resource_id == "c-1"


def test_attributes_merge_into_the_resource(fleet):
    ingest(event("e1", attributes={"name": "web-1", "zone": "a"}))
    ingest(event("e2", "stopped", at="2026-11-02T00:00:00Z", attributes={"zone": "b"}))
    assert Resource.objects.get(resource_id="i-1").attributes == {"name": "web-1", "zone": "b"}


def test_ingestion_day_counts_each_outcome(fleet):
    ingest(event("e1"), event("e2", region="pluto"))
    ingest(event("e1"), event("e3", "stopped", at="2026-11-02T00:00:00Z"))
    day = IngestionDay.objects.get(day=NOW.date(), stream="lifecycle")
    assert (day.accepted, day.duplicate, day.refused) == (2, 1, 1)


def test_an_empty_batch_does_nothing(fleet):
    result = ingest()
    assert (result.items, result.accepted, result.duplicate, result.refused) == ([], 0, 0, 0)
    assert not IngestionDay.objects.exists()


def test_the_batch_itself_must_be_a_list_of_at_most_max_items(fleet):
    with pytest.raises(ValidationError) as not_list:
        lifecycle_events_ingest(items={"events": []}, now=NOW)
    assert not_list.value.message_dict == {"events": [ERR_NOT_A_LIST]}
    with pytest.raises(ValidationError) as too_many:
        lifecycle_events_ingest(items=[event("e")] * (MAX_BATCH + 1), now=NOW)
    assert too_many.value.message_dict == {
        "events": [ERR_TOO_MANY.format(max=MAX_BATCH, count=MAX_BATCH + 1)]
    }
    assert not IngestionDay.objects.exists()


def _mixed_batch(size: int) -> list[dict]:
    """New and stored resources, parents, refusals and duplicates."""
    items = []
    for n in range(size):
        rid = f"i-{n % 50 + 2}"
        match n % 5:
            case 0 | 1:
                items.append(event(f"b{n}", resource_id=rid, at=f"2026-11-{n % 28 + 1:02d}"
                                   "T00:00:00Z"))
            case 2:
                items.append(event(f"b{n}", "stopped", resource_id=f"n-{n}",
                                   at="2026-11-02T00:00:00Z"))
            case 3:
                items.append(event(f"b{n}", resource_id=f"d-{n}", resource_type="disk",
                                   variant="500gb", parent_resource_id="i-0"))
            case 4:
                items.append(event("s0", resource_id="i-0"))
    return items


@pytest.mark.parametrize("size", [1, 500])
def test_a_batch_costs_a_bounded_number_of_queries(fleet, size, django_assert_max_num_queries):
    ingest(event("s0", resource_id="i-0"), event("s1", resource_id="i-1"))
    # About fifteen statements whatever the size; django-tenants adds a
    # `SET search_path` per cursor, counted here too.
    with django_assert_max_num_queries(30):
        result = lifecycle_events_ingest(items=_mixed_batch(size), now=NOW)
    assert result.accepted >= 1
    assert result.accepted + result.duplicate + result.refused == size
    if size == 500:
        assert result.duplicate and result.refused


def test_a_resource_created_meanwhile_by_another_batch_is_checked_as_stored(
    fleet, monkeypatch
):
    """The race: the batch saw no row for i-1, but a concurrent batch committed it
    before our insert (ON CONFLICT DO NOTHING skips it). It is then locked, its
    events loaded, and the batch's events checked against them."""
    from metering import lifecycle_store

    ingest(event("e1"))
    real = lifecycle_store._lock_and_load
    calls = []

    def first_call_misses_i1(resource_ids):
        calls.append(list(resource_ids))
        found = real(resource_ids)
        return {k: v for k, v in found.items() if k != "i-1"} if len(calls) == 1 else found

    monkeypatch.setattr(lifecycle_store, "_lock_and_load", first_call_misses_i1)
    result = ingest(
        event("e2", "stopped", at="2026-11-02T00:00:00Z"),
        event("e3", "created", at="2026-11-03T00:00:00Z"),
        event("e4", "stopped", at="2026-11-04T00:00:00Z", project="zeta"),
    )
    assert calls == [["i-1"], ["i-1"]]
    assert [i["status"] for i in result.items] == ["accepted", "refused", "refused"]
    assert result.items[1]["reason"] == ERR_CREATED_TWICE.format(
        resource="i-1", first="2026-11-01T00:00:00Z", at="2026-11-03T00:00:00Z"
    )
    assert result.items[2]["reason"] == RESOURCE_DISAGREES.format(
        resource="i-1", field="project", stored="adventure", given="zeta"
    )
    assert [e[0] for e in stored_events()] == ["e1", "e2"]
    assert Resource.objects.count() == 1


def test_an_id_stored_meanwhile_by_another_batch_is_a_duplicate_not_an_error(
    fleet, monkeypatch
):
    """The race: the duplicate check ran before a concurrent batch committed the
    same ids. Under the lock its events are visible (same resource), or the insert's
    ON CONFLICT skips them (another resource): duplicates either way."""
    from metering import lifecycle_ingest

    ingest(event("e1"), event("x1", resource_id="i-x"))
    monkeypatch.setattr(lifecycle_ingest, "_mark_stored_duplicates", lambda items, outcomes: items)
    result = ingest(
        event("e1"),
        event("x1", "stopped", resource_id="i-y", at="2026-11-02T00:00:00Z"),
    )
    assert result.items == [
        {"index": 0, "event_id": "e1", "status": "duplicate",
         "reason": DUPLICATE.format(event_id="e1")},
        {"index": 1, "event_id": "x1", "status": "duplicate",
         "reason": DUPLICATE.format(event_id="x1")},
    ]
    assert LifecycleEvent.objects.count() == 2
    # i-y was inserted for x1 alone: with x1 not stored, neither is i-y.
    assert not Resource.objects.filter(resource_id="i-y").exists()
