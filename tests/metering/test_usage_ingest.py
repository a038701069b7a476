"""usage_events_ingest: one outcome per item in input order, whichever way each item is
validated (the fast path for well-formed items, the detailed one for everything else)."""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from core.api_gate import ERR_NUMBER
from core.periods import month_period
from cycles.guard import CYCLE_FINALIZED
from cycles.models import BillingCycle, CycleStatus
from metering.domain.cloudevents import CLOUDEVENT_ERRORS
from metering.ingestion import Outcomes
from metering.models import IngestionDay, UsageEvent
from metering.usage_ingest import _usage_detailed, _usage_fast, usage_events_ingest
from tests.metering.conftest import NOW

AT = "2026-11-10T08:00:00Z"


def usage(event_id, value="1.5", **fields):
    body = {"event_id": event_id, "metric": "requests", "project": "adventure",
            "occurred_at": AT, "value": value}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


def ingest(*items):
    return usage_events_ingest(items=list(items), now=NOW)


def stored():
    return {
        event_id: (metric, project, at, str(value), attributes)
        for event_id, metric, project, at, value, attributes in UsageEvent.objects.values_list(
            "event_id", "metric__key", "project__name", "occurred_at", "value", "attributes")
    }


def refused(index, event_id, fields):
    reason = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
    return {"index": index, "event_id": event_id, "status": "refused", "reason": reason,
            "fields": fields}


TEXT = "must be a non-empty string of at most {max} characters"
VALUE = "must be a decimal number 0 or more (a string or a JSON number)"
PRECISION = "must have at most 10 decimal places and 20 digits before the point"
TIMESTAMP = "must be an ISO-8601 timestamp with a UTC offset, e.g. 2020-10-01T00:00:00Z"
NAIVE = "has no UTC offset (add Z or +hh:mm): a time without one is ambiguous"
DURATION = ("'instance' is a resource type: its running time comes from lifecycle events "
            "(POST /api/v1/resources/events), not usage events")


def finalized(index: int, event_id: str, when: str) -> dict:
    """The guard's refusal of an event dated in the finalized 2026-09 (cycles/guard.py)."""
    message = CYCLE_FINALIZED.format(when=when, label="2026-09")
    return {"index": index, "event_id": event_id, "status": "refused", "reason": message,
            "error": {"status": 409, "code": "cycle_finalized", "message": message,
                      "cycle": "2026-09", "fields": {"occurred_at": [message]}}}


def test_a_batch_mixing_valid_and_invalid_items_answers_item_by_item(fleet):
    """Every kind of item in one batch; the answers are the ones ingestion always gave
    (pinned before the fast path was added)."""
    september = month_period(2026, 9, "Pacific/Auckland")
    BillingCycle.objects.create(start=september.start, end=september.end, label="2026-09",
                                status=CycleStatus.CLOSED, closed_at=september.end)
    first = ingest(usage("s-1", "2.5"), usage("s-2", "4", occurred_at="2026-09-15T00:00:00Z"))
    assert first.accepted == 1 and first.refused == 1
    ingest(usage("s-1b", "2.5"))

    result = ingest(
        usage("u-0"),                                                  # 0
        "not an object",                                               # 1
        {},                                                            # 2
        usage("u-3", metric="nope"),                                   # 3
        usage("u-4", metric="instance"),                               # 4
        usage("u-5", project="nowhere"),                               # 5
        usage("u-6", occurred_at="2026-11-10T08:00:00"),               # 6
        usage("u-7", occurred_at="yesterday"),                         # 7
        usage("u-8", "-1"),                                            # 8
        usage("u-9", "0.12345678901"),                                 # 9
        usage("u-10", "1.10000000000"),                                # 10: 11 places, 1.1
        usage("u-11", " 3 "),                                          # 11
        usage("u-12", 7),                                              # 12
        usage("u-13", Decimal("0.5")),                                 # 13
        usage("u-14", True),                                           # 14
        usage("u-15", "NaN"),                                          # 15
        usage("u-16", "1e3"),                                          # 16
        usage("u-17", "100000000000000000000"),                        # 17: 10^20
        usage("u-18", "99999999999999999999.9999999999"),              # 18
        usage("u-19", attributes=["zone"]),                            # 19
        usage("u-20", attributes={"zone": "a"}),                       # 20
        usage("u-0"),                                                  # 21
        usage("u-0", "2"),                                             # 22
        usage("u-3"),                                                  # 23
        usage("s-1", "2.5"),                                           # 24
        usage("s-1b", "2.50", project="zeta",
              occurred_at="2026-11-10T10:00:00+02:00"),                # 25
        usage("u-26", occurred_at="2026-11-10T10:00:00+02:00"),        # 26
        usage("x" * 201),                                              # 27
        usage(""),                                                     # 28
        usage(5),                                                      # 29
        usage("u-30", metric=""),                                      # 30
        {**usage("u-31"), CLOUDEVENT_ERRORS: {"specversion": ["must be \"1.0\""]}},  # 31
        usage("u-32", ...),                                            # 32
        usage("u-33", occurred_at="2026-09-20T00:00:00Z"),             # 33
        usage("u-33", occurred_at="2026-09-20T00:00:00Z"),             # 34
        usage("s-2", "4", occurred_at="2026-09-15T00:00:00Z"),         # 35
        usage("u-36", "0", metric="requests", project="zeta", attributes=None),  # 36
        usage("u-37", "1_000"),                                        # 37
        usage("u-38", "٣"),                                            # 38: Arabic-Indic 3
        usage("u-39", "-0"),                                           # 39
        usage("u-40", "12345678901234567890"),                         # 40: 20 digits
        usage("u-41", 10**20),                                         # 41
        usage("u-42", "+1"),                                           # 42
        usage("u-43", ".5"),                                           # 43
        usage("u-44", occurred_at=20261110),                           # 44
        usage("u-45", occurred_at="2026-11-10 08:00:00.123456+00:00"),  # 45
        usage("u-46", project=["adventure"]),                          # 46
        usage("u-47", "1.5", extra="ignored"),                         # 47
        usage("s-1", "2.50", project="zeta"),                          # 48
    )
    assert result.items == [
        {"index": 0, "event_id": "u-0", "status": "accepted"},
        {"index": 1, "event_id": None, "status": "refused",
         "reason": "each event must be a JSON object"},
        refused(2, None, {"event_id": ["is required"], "metric": ["is required"],
                          "project": ["is required"], "occurred_at": ["is required"],
                          "value": ["is required"]}),
        refused(3, "u-3", {"metric": ["unknown metric 'nope'"]}),
        refused(4, "u-4", {"metric": [DURATION]}),
        refused(5, "u-5", {"project": ["unknown project 'nowhere'"]}),
        refused(6, "u-6", {"occurred_at": [NAIVE]}),
        refused(7, "u-7", {"occurred_at": [TIMESTAMP]}),
        refused(8, "u-8", {"value": [VALUE]}),
        refused(9, "u-9", {"value": [PRECISION]}),
        {"index": 10, "event_id": "u-10", "status": "accepted"},
        {"index": 11, "event_id": "u-11", "status": "accepted"},
        {"index": 12, "event_id": "u-12", "status": "accepted"},
        {"index": 13, "event_id": "u-13", "status": "accepted"},
        refused(14, "u-14", {"value": [VALUE]}),
        refused(15, "u-15", {"value": [VALUE]}),
        {"index": 16, "event_id": "u-16", "status": "accepted"},
        refused(17, "u-17", {"value": [PRECISION]}),
        {"index": 18, "event_id": "u-18", "status": "accepted"},
        refused(19, "u-19", {"attributes": ["must be a JSON object"]}),
        {"index": 20, "event_id": "u-20", "status": "accepted"},
        {"index": 21, "event_id": "u-0", "status": "duplicate",
         "reason": "event 'u-0' repeats item 0 of this batch"},
        {"index": 22, "event_id": "u-0", "status": "duplicate",
         "reason": "event 'u-0' repeats item 0 of this batch, with a different body "
                   "(value 1.5, not 2)"},
        {"index": 23, "event_id": "u-3", "status": "accepted"},
        {"index": 24, "event_id": "s-1", "status": "duplicate",
         "reason": "event 's-1' was already received"},
        {"index": 25, "event_id": "s-1b", "status": "duplicate",
         "reason": "event 's-1b' was already received with a different body (project "
                   "'adventure', not 'zeta'): the event first received is kept"},
        {"index": 26, "event_id": "u-26", "status": "accepted"},
        refused(27, "x" * 201, {"event_id": [TEXT.format(max=200)]}),
        refused(28, "", {"event_id": [TEXT.format(max=200)]}),
        refused(29, None, {"event_id": [TEXT.format(max=200)]}),
        refused(30, "u-30", {"metric": [TEXT.format(max=100)]}),
        refused(31, "u-31", {"specversion": ["must be \"1.0\""]}),
        refused(32, "u-32", {"value": ["is required"]}),
        finalized(33, "u-33", "2026-09-20T00:00:00+00:00"),
        {"index": 34, "event_id": "u-33", "status": "refused",
         "reason": "event 'u-33' repeats item 33 of this batch, which was refused"},
        finalized(35, "s-2", "2026-09-15T00:00:00+00:00"),
        {"index": 36, "event_id": "u-36", "status": "accepted"},
        {"index": 37, "event_id": "u-37", "status": "accepted"},
        {"index": 38, "event_id": "u-38", "status": "accepted"},
        {"index": 39, "event_id": "u-39", "status": "accepted"},
        {"index": 40, "event_id": "u-40", "status": "accepted"},
        # Past 64 bits: the input gate's refusal (core/api_gate.py), before the field's.
        refused(41, "u-41", {"value": [ERR_NUMBER]}),
        {"index": 42, "event_id": "u-42", "status": "accepted"},
        {"index": 43, "event_id": "u-43", "status": "accepted"},
        refused(44, "u-44", {"occurred_at": [TIMESTAMP]}),
        {"index": 45, "event_id": "u-45", "status": "accepted"},
        refused(46, "u-46", {"project": [TEXT.format(max=100)]}),
        {"index": 47, "event_id": "u-47", "status": "accepted"},
        {"index": 48, "event_id": "s-1", "status": "duplicate",
         "reason": "event 's-1' repeats item 24 of this batch, with a different body "
                   "(project 'adventure', not 'zeta')"},
    ]
    assert (result.accepted, result.duplicate, result.refused) == (19, 5, 25)

    rows = stored()
    at = datetime(2026, 11, 10, 8, tzinfo=UTC)
    assert rows["u-0"] == ("requests", "adventure", at, "1.5000000000", {})
    assert rows["u-10"][3] == "1.1000000000"
    assert rows["u-11"][3] == "3.0000000000"
    assert rows["u-12"][3] == "7.0000000000"
    assert rows["u-13"][3] == "0.5000000000"
    assert rows["u-16"][3] == "1000.0000000000"
    assert rows["u-18"][3] == "99999999999999999999.9999999999"
    assert rows["u-20"][4] == {"zone": "a"}
    assert rows["u-26"][2] == at
    assert rows["u-36"][1:4] == ("zeta", at, "0E-10")
    assert rows["u-37"][3] == "1000.0000000000"
    assert rows["u-38"][3] == "3.0000000000"
    assert rows["u-39"][3] in ("0E-10", "-0E-10")
    assert rows["u-40"][3] == "12345678901234567890.0000000000"
    assert rows["u-45"][2] == datetime(2026, 11, 10, 8, 0, 0, 123456, tzinfo=UTC)
    assert rows["s-1"] == ("requests", "adventure", at, "2.5000000000", {})
    assert "s-2" not in rows and "u-33" not in rows
    day = IngestionDay.objects.get(day=NOW.date(), stream="usage")
    assert (day.accepted, day.duplicate, day.refused) == (21, 5, 26)


def test_a_large_batch_of_well_formed_items_is_stored_exactly(fleet):
    """The common case (the fast path), with varied values, instants and projects, then
    the same batch again: every item a duplicate, a changed one naming its difference."""
    items = [
        usage(f"big-{n}", f"{n}.{n % 10}" if n % 3 else n,
              project=("adventure", "zeta", "elsewhere")[n % 3],
              occurred_at=f"2026-11-{1 + n % 20:02d}T{n % 24:02d}:00:00Z",
              attributes={"n": n} if n % 5 == 0 else None)
        for n in range(1500)
    ]
    result = ingest(*items)
    assert result.accepted == 1500
    assert result.items[1499] == {"index": 1499, "event_id": "big-1499", "status": "accepted"}
    rows = stored()
    assert rows["big-7"] == ("requests", "zeta", datetime(2026, 11, 8, 7, tzinfo=UTC),
                             "7.7000000000", {})
    assert rows["big-10"] == ("requests", "zeta", datetime(2026, 11, 11, 10, tzinfo=UTC),
                              "10.0000000000", {"n": 10})
    assert rows["big-9"][3] == "9.0000000000"

    again = ingest(*items[:10], usage("big-10", "10.5", occurred_at="2026-11-11T10:00:00Z"))
    assert again.duplicate == 11
    assert again.items[10]["reason"] == (
        "event 'big-10' was already received with a different body (project 'zeta', not "
        "'adventure', value 10, not 10.5): the event first received is kept"
    )


@pytest.mark.parametrize("value", ["0.0000000001", "00000000000000000000001", "1.",
                                   "1.0000000000000", "  1.5", "1E-10", "1E+19"])
def test_values_outside_the_plain_form_are_still_read_exactly(fleet, value):
    result = ingest(usage("v-1", value))
    assert result.items[0]["status"] == "accepted"
    assert UsageEvent.objects.get(event_id="v-1").value == Decimal(value.strip())


def _index_columns(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                       "AND tablename = %s", [table])
        return sorted(re.search(r"USING btree \((.*)\)$", row[0]).group(1)
                      for row in cursor.fetchall())


def test_every_usage_partition_keeps_only_the_indexes_queries_use(fleet):
    """Migration 0004: no single-column metric_id or project_id index (the composite one
    serves project lookups), on the table, its partitions and a month made later."""
    later = usage_events_ingest(items=[usage("later", occurred_at="2033-01-05T00:00:00Z")],
                                now=datetime(2033, 1, 5, tzinfo=UTC))
    assert later.accepted == 1
    expected = ["event_id", "id, occurred_at", "occurred_at",
                "project_id, metric_id, occurred_at"]
    assert _index_columns("metering_usageevent") == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = 'metering_usageevent'::regclass")
        partitions = [row[0] for row in cursor.fetchall()]
    assert "metering_usageevent_p2033_01" in partitions and len(partitions) >= 6
    for partition in partitions:
        assert _index_columns(partition) == expected, partition


# --- the fast path against the detailed one, item by item (no database) ------------------

METRICS = {"requests": (1, "sum"), "instance": (2, "duration"), "": (3, "sum"),
           "m" * 101: (4, "sum")}
PROJECTS = {"adventure": 10, "zeta": 11, "p" * 101: 12, "": 13}

EDGE_ITEMS = [
    usage("a"), usage("a", 0), usage("a", 10**20 - 1), usage("a", 10**20), usage("a", -1),
    usage("a", True), usage("a", False), usage("a", 1.5), usage("a", Decimal("1.5")),
    usage("a", Decimal("NaN")), usage("a", Decimal("-1.5")), usage("a", Decimal("1.5E+3")),
    usage("a", Decimal("1.50000000000")), usage("a", Decimal("-0")),
    usage("a", Decimal("123456789012345678901")), usage("a", Decimal("sNaN")),
    usage("a", None), usage("a", ...), usage("a", "1.50"),
    usage("a", "0.0000000001"), usage("a", "0.00000000001"), usage("a", "1.00000000000"),
    usage("a", " 1"), usage("a", "1 "), usage("a", "1\n"), usage("a", "+1"), usage("a", "-0"),
    usage("a", "1e2"), usage("a", "1E-11"), usage("a", "inf"), usage("a", "1_0"),
    usage("a", "٣"), usage("a", "１"), usage("a", ""), usage("a", "."), usage("a", "1."),
    usage("a", ".1"), usage("a", "99999999999999999999"), usage("a", "100000000000000000000"),
    usage("a", "099999999999999999999"), usage("a", ["1"]), usage("a", {"v": 1}),
    usage("a", occurred_at="2026-11-10T08:00:00+02:00"),
    usage("a", occurred_at="2026-11-10T08:00:00-00:30"),
    usage("a", occurred_at="2026-11-10T08:00:00"), usage("a", occurred_at="2026-11-10"),
    usage("a", occurred_at="2026-11-10T08:00Z"), usage("a", occurred_at="20261110T080000Z"),
    usage("a", occurred_at="2026-11-10 08:00:00.5+00:00"), usage("a", occurred_at=""),
    usage("a", occurred_at="nope"), usage("a", occurred_at=None), usage("a", occurred_at=...),
    usage("a", occurred_at=1), usage("a", occurred_at=["2026-11-10T08:00:00Z"]),
    usage("a", metric="instance"), usage("a", metric="nope"), usage("a", metric=""),
    usage("a", metric="m" * 101), usage("a", metric=None), usage("a", metric=...),
    usage("a", metric=1), usage("a", metric=["requests"]),
    usage("a", project="zeta"), usage("a", project="nowhere"), usage("a", project=""),
    usage("a", project="p" * 101), usage("a", project=None), usage("a", project={"x": 1}),
    usage(""), usage("e" * 200), usage("e" * 201), usage(None), usage(...), usage(7),
    usage(["a"]), usage("a", attributes={}), usage("a", attributes={"k": [1, {"x": None}]}),
    usage("a", attributes=None), usage("a", attributes=[]), usage("a", attributes="x"),
    usage("a", extra=1), {**usage("a"), CLOUDEVENT_ERRORS: {}},
    {**usage("a"), CLOUDEVENT_ERRORS: None},
    {**usage("a"), CLOUDEVENT_ERRORS: {"id": ["is required (CloudEvents core attribute)"]}},
    {}, [], "x", None, 1,
]


def _detailed(raw):
    outcomes = Outcomes(1)
    item = _usage_detailed(0, raw, METRICS, PROJECTS, outcomes)
    return item, outcomes.rows[0]


@pytest.mark.parametrize("raw", EDGE_ITEMS, ids=range(len(EDGE_ITEMS)))
def test_the_fast_path_takes_an_item_only_as_the_detailed_path_would(raw):
    metric_ids = {"requests": 1}
    project_ids = {"adventure": 10, "zeta": 11}
    fast = _usage_fast(0, raw, metric_ids, project_ids, {})
    detailed, refusal = _detailed(raw)
    if fast is None:
        return  # the detailed path decides, as it always did
    assert refusal is None and detailed is not None
    assert fast == detailed
    # Exactly the same decimal (digits and exponent), not just an equal one.
    assert fast.value.as_tuple() == detailed.value.as_tuple()
    assert fast.at.utcoffset() == detailed.at.utcoffset()


def test_the_fast_path_takes_the_common_shapes():
    metric_ids, project_ids = {"requests": 1}, {"adventure": 10}
    for raw in (usage("a"), usage("a", 12), usage("a", "0"), usage("a", Decimal("0.25")),
                usage("a", attributes={"k": 1}),
                usage("a", occurred_at="2026-11-10T10:00:00+02:00")):
        assert _usage_fast(0, raw, metric_ids, project_ids, {}) is not None, raw


def test_an_instant_is_parsed_once_per_batch_and_kept_exact():
    instants: dict = {}
    first = _usage_fast(0, usage("a"), {"requests": 1}, {"adventure": 10}, instants)
    second = _usage_fast(1, usage("b"), {"requests": 1}, {"adventure": 10}, instants)
    assert instants == {AT: datetime(2026, 11, 10, 8, tzinfo=UTC)}
    assert first.at is second.at and first.at.tzinfo is UTC


def test_fractional_numbers_in_usage_attributes_are_stored_as_numbers(fleet):
    """The usage API parses every JSON number as an exact Decimal (a 500 here once):
    attributes keep them as numbers, every digit of them."""
    long = Decimal("0.12345678901234567890123")
    result = ingest(usage("attr-1", attributes={"gb": Decimal("1.5"), "n": Decimal("2"),
                                                 "deep": [Decimal("0.1")], "exact": long}))
    assert result.accepted == 1, result.items
    assert stored()["attr-1"][4] == {"gb": 1.5, "n": 2, "deep": [0.1], "exact": float(long)}
    with connection.cursor() as cursor:
        cursor.execute("SELECT attributes->>'exact', jsonb_typeof(attributes->'exact') "
                       "FROM metering_usageevent WHERE event_id = 'attr-1'")
        assert cursor.fetchone() == (str(long), "number")


def test_the_database_refuses_a_usage_event_whose_id_is_not_claimed(fleet):
    """Every writer claims the id (migration 0005), which is what lets the duplicate
    lookup trust the ids table."""
    from django.db import IntegrityError, transaction

    from accounts.models import Project
    from catalog.models import Metric

    with pytest.raises(IntegrityError), transaction.atomic():
        UsageEvent.objects.create(
            event_id="unclaimed", metric=Metric.objects.get(key="requests"),
            project=Project.objects.get(name="adventure"),
            occurred_at=datetime(2026, 11, 10, 8, tzinfo=UTC), value=Decimal(1), received_at=NOW)
    assert ingest(usage("unclaimed")).accepted == 1
    again = ingest(usage("unclaimed", value="2"))
    assert again.duplicate == 1
    assert "value 1.5, not 2" in again.items[0]["reason"]
