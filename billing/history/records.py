"""The history file of `manage.py import_history`: one record per line.

Two spellings of the same records: JSON Lines (`.jsonl`, one object per line) or CSV
(`.csv`, a header row naming the columns, one record per row; a record leaves the
columns it does not use empty). Every record names its kind in `record`; the other
fields are those of the API call it stands for (README, "Import your history"):

    region         key, name
    resource_type  key, name, [unit, description, variants (JSONL: {key: description})]
    variant        resource_type, key, description
    metric         key, name, aggregation (sum, count, max, unique_count, latest), [unit]
    organization   name, display_name, [billing_account, payment_kind, contacts (a;b),
                   created_at]
    project        name, organization, [billing_account, billing_from]
    price          resource_type, rate, unit, [variant, region, service_class,
                   effective_from]
    event          event_id, resource_id, kind, resource_type, variant, project, region,
                   occurred_at, [service_class, parent_resource_id, created_by (the
                   username of a user of the project's organization: spend per user)]
    usage          event_id, metric, project, occurred_at, value
    credit         name, description, window_start, window_end, one of organization,
                   project or resource, [region, resource_type]

Records are applied kind by kind in that order, whatever the file's order, so what a
record names exists before it (events in time order). Instants are ISO 8601 with an
offset.
"""

import csv
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

KINDS = ("region", "resource_type", "variant", "metric", "organization", "project", "price",
         "event", "usage", "credit")
REQUIRED = {
    "region": ("key", "name"),
    "resource_type": ("key", "name"),
    "variant": ("resource_type", "key", "description"),
    "metric": ("key", "name", "aggregation"),
    "organization": ("name", "display_name"),
    "project": ("name", "organization"),
    "price": ("resource_type", "rate", "unit"),
    "event": ("event_id", "resource_id", "kind", "resource_type", "variant", "project",
              "region", "occurred_at"),
    "usage": ("event_id", "metric", "project", "occurred_at", "value"),
    "credit": ("name", "description", "window_start", "window_end"),
}

ERR_SUFFIX = "{name}: the file must end in .jsonl or .csv"
ERR_JSON = "not a JSON object: {error}"
ERR_KIND = "record must be one of: " + ", ".join(KINDS)
ERR_MISSING = "{kind} needs {fields}"


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    kind: str
    fields: dict


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A line that is no record: its number and why."""

    line: int
    kind: str
    reason: str


def records_read(path: Path) -> tuple[list[Record], list[Unreadable]]:
    """The file's records, and the lines that are not records (with their reasons)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = _jsonl_rows(path)
    elif suffix == ".csv":
        rows = _csv_rows(path)
    else:
        raise ValueError(ERR_SUFFIX.format(name=path.name))
    records, unreadable = [], []
    for line, row in rows:
        if isinstance(row, str):
            unreadable.append(Unreadable(line=line, kind="?", reason=row))
            continue
        found = _record(line, row)
        (unreadable if isinstance(found, Unreadable) else records).append(found)
    return _expanded(records), unreadable


def _jsonl_rows(path: Path):
    with path.open(encoding="utf-8") as file:
        for number, text in enumerate(file, start=1):
            if not text.strip():
                continue
            try:
                # Numbers as exact decimals: a rate of 0.1 must stay 0.1.
                row = json.loads(text, parse_float=Decimal)
            except ValueError as error:
                yield number, ERR_JSON.format(error=error)
                continue
            yield number, row if isinstance(row, dict) else ERR_JSON.format(error="a list")


def _csv_rows(path: Path):
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = [name.strip() for name in next(reader, [])]
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            # reader.line_num: the line the row ended on, as an editor numbers it.
            # strict=False: a short row leaves its last columns empty.
            pairs = zip(header, values, strict=False)
            yield reader.line_num, {name: value.strip() for name, value in pairs
                                    if name and value.strip()}


def _record(line: int, row: dict) -> Record | Unreadable:
    kind = row.pop("record", None)
    if kind not in KINDS:
        return Unreadable(line=line, kind=str(kind or "?"), reason=ERR_KIND)
    fields = {k: v for k, v in row.items() if v not in (None, "")}
    missing = [name for name in REQUIRED[kind] if name not in fields]
    if missing:
        return Unreadable(line=line, kind=kind, reason=ERR_MISSING.format(
            kind=kind, fields=", ".join(missing)))
    return Record(line=line, kind=kind, fields=fields)


def _expanded(records: list[Record]) -> list[Record]:
    """A resource type's `variants` object (JSONL) as variant records of their own."""
    out = []
    for record in records:
        variants = record.fields.get("variants") if record.kind == "resource_type" else None
        out.append(record)
        if isinstance(variants, dict):
            out += [Record(line=record.line, kind="variant",
                           fields={"resource_type": record.fields["key"], "key": key,
                                   "description": description})
                    for key, description in variants.items()]
    return out
