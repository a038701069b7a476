"""FOCUS rows as files: CSV (text) and Parquet (columnar, through pyarrow), and the
monthly file beat writes beside the invoice PDFs once a month is finalized.

Costs and quantities stay exact: CSV writes the decimals as they are; Parquet stores
them as decimal128(38, 10) (the widest rate Tally keeps has 10 places), never floats.
(focus-validator 1.0.x reads decimal columns only as floats, so the tests validate the
CSV with it and check the Parquet's costs exactly.)
"""

import csv
import io
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection

from cycles.models import BillingCycle, CycleStatus
from invoicing.focus import COLUMNS, DATETIME_COLUMNS, DECIMAL_COLUMNS, focus_rows

CSV_MEDIA_TYPE = "text/csv"
# Registered with IANA in 2024 for Apache Parquet.
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
FORMATS = {"csv": CSV_MEDIA_TYPE, "parquet": PARQUET_MEDIA_TYPE}
_DECIMAL = pa.decimal128(38, 10)
_INSTANT = pa.timestamp("s", tz="UTC")


def focus_csv(rows: list[dict]) -> bytes:
    """The rows as CSV with a header of FOCUS column names; a null is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[name] is None else row[name] for name in COLUMNS])
    return buffer.getvalue().encode()


def _arrow_type(name: str):
    if name in DECIMAL_COLUMNS:
        return _DECIMAL
    if name in DATETIME_COLUMNS:
        return _INSTANT
    return pa.string()


def _arrow_value(name: str, value):
    if value is None:
        return None
    if name in DECIMAL_COLUMNS:
        return Decimal(value)
    if name in DATETIME_COLUMNS:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def focus_parquet(rows: list[dict]) -> bytes:
    """The rows as one Parquet file: typed columns (decimal, UTC timestamp, string)."""
    schema = pa.schema([pa.field(name, _arrow_type(name)) for name in COLUMNS])
    table = pa.table(
        {name: pa.array([_arrow_value(name, row[name]) for row in rows], type=_arrow_type(name))
         for name in COLUMNS},
        schema=schema,
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def focus_document(*, cycle: BillingCycle, file_format: str, organization_ids=None) -> bytes:
    rows = focus_rows(cycle=cycle, organization_ids=organization_ids)
    return focus_parquet(rows) if file_format == "parquet" else focus_csv(rows)


def focus_relative_path(*, schema_name: str, label: str, file_format: str) -> str:
    """Beside the PDFs (`<schema>/invoices/`): `<schema>/focus/focus-<YYYY-MM>.<format>`."""
    return f"{schema_name}/focus/focus-{label}.{file_format}"


def focus_monthly_path(*, label: str, file_format: str) -> Path:
    return Path(settings.MEDIA_ROOT) / focus_relative_path(
        schema_name=connection.schema_name, label=label, file_format=file_format)


def focus_monthly_files_write() -> list[str]:
    """Write the FOCUS files (CSV and Parquet) of every finalized month that has none yet;
    the relative paths written. A finalized month never changes, so each is written
    once; a temporary file renamed into place means no reader sees half a file."""
    written = []
    for cycle in BillingCycle.objects.filter(status=CycleStatus.CLOSED).order_by("start"):
        rows = None
        for file_format in FORMATS:
            path = focus_monthly_path(label=cycle.label, file_format=file_format)
            if path.exists():
                continue
            if rows is None:
                rows = focus_rows(cycle=cycle)
            body = focus_parquet(rows) if file_format == "parquet" else focus_csv(rows)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_bytes(body)
            temporary.replace(path)
            written.append(str(path.relative_to(settings.MEDIA_ROOT)))
    return written
