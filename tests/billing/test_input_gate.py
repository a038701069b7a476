"""Issue 19: each class of bad input is refused at the one gate (core/api_gate.py), on
every endpoint whose schema takes that kind of field: 400 (413 for a body over the
limit) in the error envelope, the field named, nothing stored. In a batch, the bad
item alone is refused and the rest are stored."""

import json
import re

import pytest

from core.api_gate import MAX_JSON_DEPTH, max_body_bytes
from metering.models import LifecycleEvent, UsageEvent
from tests.billing.api_world import (
    World,
    batch_item_properties,
    body_properties,
    example_body,
    json_body_schema,
    operations,
    query_parameters,
    stored_rows,
)
from tests.conftest import inside

NUL_TEXT = "a\x00b"
BAD_INSTANTS = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                "9999-12-31T23:59:59Z", "2201-01-01T00:00:00Z", "1899-12-31T23:59:59Z")
WRONG_TYPES = {"string": {"an": "object"}, "integer": ["a", "list"], "number": {"x": 1},
               "array": {"an": "object"}, "object": ["a", "list"], "boolean": {"x": 1}}


@pytest.fixture
def world(alpha):
    return World(alpha)


def body_operations(*, batch: bool | None = None):
    """Operations that take a JSON body (of batches, or not, or both) through the API's
    parsers. Public operations (a webhook whose signature is checked before its body is
    read) are gated by their signature instead."""
    for method, path, op in operations():
        if json_body_schema(op) is None or {} in op.get("security", []):
            continue
        is_batch = batch_item_properties(op) is not None
        if batch is None or batch == is_batch:
            yield method, path, op


def refused(response, field: str, status: int = 400) -> str | None:
    """None if `response` is the envelope refusing `field`, else what is wrong."""
    if response.status_code != status:
        return f"answered {response.status_code}: {response.content[:300]!r}"
    error = response.json().get("error", {})
    named = error.get("fields", {})
    if error.get("status") != status or not any(
            name == field or name.startswith((f"{field}.", f"{field}[")) for name in named):
        return f"did not name {field!r}: {error}"
    return None


def check_single(world, cases, status: int = 400) -> list[str]:
    """Send each (method, path, field, body); expect a refusal naming the field and
    no row written anywhere in the provider's schema. Paths whose object this world
    cannot hold (a sandbox's clock on a live provider) are left out."""
    failures = []
    cases = [case for case in cases if world.reachable(case[0], case[1])]
    with inside(world.provider):
        before = stored_rows()
    for method, path, field, body in cases:
        response = world.call(method, world.url(path), body=body)
        problem = refused(response, field, status)
        with inside(world.provider):
            after = stored_rows()
        changed = {t: after[t] - before.get(t, 0) for t in after if after[t] != before.get(t)}
        if changed:
            problem = (problem or "") + f" stored {changed}"
            before = after
        if problem:
            failures.append(f"{method.upper()} {path} {field}={body!r:.80}: {problem}")
    return failures


def check_batch(world, bad_item_fields) -> list[str]:
    """For each batch endpoint: the schema's example item, and the same item spoiled in
    one field; the spoiled one is refused naming the field, the good one stored."""
    failures = []
    for method, path, op in body_operations(batch=True):
        template = example_body(op)["events"][0]
        stream = path.strip("/").replace("/", "-")
        for n, (field, value) in enumerate(bad_item_fields(batch_item_properties(op))):
            good = {**template, "event_id": f"good-{stream}-{field}-{n}"}
            bad_id = f"bad-{stream}-{field}-{n}"
            bad = {**template, "event_id": bad_id, field: value}
            response = world.call(method, world.url(path), body={"events": [good, bad]})
            if response.status_code != 200:
                failures.append(f"{path} {field}: {response.status_code} {response.content[:200]}")
                continue
            items = response.json()["items"]
            with inside(world.provider):
                stored = set(LifecycleEvent.objects.values_list("event_id", flat=True)) | set(
                    UsageEvent.objects.values_list("event_id", flat=True))
            if items[1]["status"] != "refused" or not any(
                    name == field or name.startswith(f"{field}.")
                    for name in items[1].get("fields", {})):
                failures.append(f"{path} {field}={value!r:.60}: not refused: {items[1]}")
            if bad_id in stored:
                failures.append(f"{path} {field}: the refused item was stored")
            if items[0]["status"] == "refused" and "fields" in items[0]:
                failures.append(f"{path}: the example item itself was refused: {items[0]}")
    return failures


def string_fields(properties):
    return [name for name, prop in properties.items()
            if prop.get("type", "string") == "string" or "enum" in prop]


# --- NUL and control characters ------------------------------------------------------


def test_nul_and_control_characters_are_refused_in_every_text_field(world):
    cases = [(method, path, name, {name: text})
             for method, path, op in body_operations(batch=False)
             for name in string_fields(body_properties(op))
             for text in (NUL_TEXT, "bell\x07")]
    failures = check_single(world, cases)
    failures += check_batch(world, lambda props: [(name, NUL_TEXT) for name in
                                                   string_fields(props)])
    assert not failures, "\n".join(failures)


def test_nul_in_query_parameters_and_paths_is_refused(world):
    failures = []
    for method, path, op in operations():
        for parameter in query_parameters(op):
            response = world.call(method, world.url(path),
                                  query=f"{parameter['name']}=a%00b")
            problem = refused(response, parameter["name"])
            if problem:
                failures.append(f"{method.upper()} {path}?{parameter['name']}: {problem}")
        if "{" in path:
            # Every parameter of the path, whatever its name, carries the NUL.
            response = world.call(method, world.url(path, **{
                name: "a\x00b" for name in re.findall(r"\{(\w+)\}", path)}))
            problem = refused(response, "path")
            if problem:
                failures.append(f"{method.upper()} {path} (NUL in the path): {problem}")
    assert not failures, "\n".join(failures)


# --- instants ------------------------------------------------------------------------


def instant_fields(properties):
    return [name for name, prop in properties.items()
            if prop.get("format") in ("date-time", "date")]


def test_instants_outside_1900_to_2200_are_refused(world):
    cases = [(method, path, name, {name: instant})
             for method, path, op in body_operations(batch=False)
             for name in instant_fields(body_properties(op)) for instant in BAD_INSTANTS]
    assert cases, "the schema names no date-time fields: the walk is broken"
    failures = check_single(world, cases)
    failures += check_batch(world, lambda props: [
        (name, instant) for name in instant_fields(props) for instant in BAD_INSTANTS])
    for method, path, op in operations():
        for parameter in query_parameters(op):
            if parameter.get("schema", {}).get("format") in ("date-time", "date"):
                response = world.call(method, world.url(path),
                                      query=f"{parameter['name']}=9999-12-31T23:59:59Z")
                problem = refused(response, parameter["name"])
                if problem:
                    failures.append(f"{path}?{parameter['name']}: {problem}")
    assert not failures, "\n".join(failures)


# --- deep JSON -----------------------------------------------------------------------


def nested(levels: int):
    value = "deep"
    for _ in range(levels):
        value = {"a": value}
    return value


def test_json_deeper_than_32_levels_is_refused(world):
    cases = []
    for method, path, op in body_operations():
        first = next(iter(body_properties(op)), None)
        if first is not None:
            cases.append((method, path, first, {first: nested(MAX_JSON_DEPTH + 1)}))
        cases.append((method, path, "body", "[" * 1000 + "]" * 1000))
    # OTLP answers its refusals as the protocol says (a google.rpc.Status), not the envelope.
    otlp = [case for case in cases if "/otlp/" in case[1]]
    failures = check_single(world, [case for case in cases if case not in otlp])
    for method, path, _, body in otlp:
        status = world.call(method, world.url(path), body=body).status_code
        if status != 400:
            failures.append(f"{method.upper()} {path}: a body nested 1,000 deep answered {status}")
    failures += check_batch(world, lambda props: [("attributes", nested(MAX_JSON_DEPTH))]
                            if "attributes" in props else [])
    assert not failures, "\n".join(failures)


# --- numbers -------------------------------------------------------------------------


def beyond_range(prop: dict):
    """A value past the field's range: its maximum + 1, or past what 64 bits hold."""
    if prop.get("type") in ("integer", "number"):
        if "maximum" in prop:
            return int(prop["maximum"]) + 1
        return 2**63
    if prop.get("type") == "array" and prop.get("items", {}).get("type") == "integer":
        return [2**63]
    if prop.get("format") == "decimal":
        return "1" + "0" * 40
    return None


def test_numbers_outside_their_fields_range_are_refused(world):
    cases = [(method, path, name, {name: beyond_range(prop)})
             for method, path, op in body_operations(batch=False)
             for name, prop in body_properties(op).items() if beyond_range(prop) is not None]
    assert cases
    failures = check_single(world, cases)
    failures += check_batch(world, lambda props: [("value", "1" + "0" * 40)]
                            if "value" in props else [])
    assert not failures, "\n".join(failures)


# --- wrong JSON types ----------------------------------------------------------------


def test_wrong_json_types_are_refused(world):
    cases = [(method, path, name, {name: WRONG_TYPES[prop.get("type", "string")]})
             for method, path, op in body_operations(batch=False)
             for name, prop in body_properties(op).items()
             if prop.get("type", "string") in WRONG_TYPES]
    failures = check_single(world, cases)
    failures += check_batch(world, lambda props: [
        (name, WRONG_TYPES["string"]) for name in string_fields(props)])
    assert not failures, "\n".join(failures)


# --- bodies over the limit -----------------------------------------------------------


def test_bodies_over_the_limit_answer_413_in_the_envelope(world):
    too_big = json.dumps({"padding": "x" * max_body_bytes()})
    failures = check_single(world, [(method, path, "body", too_big)
                                    for method, path, _ in body_operations()], status=413)
    assert not failures, "\n".join(failures[:20])
