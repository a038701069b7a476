"""Monthly partitions of the usage store: creating a month's partition before its rows.

Both event tables are partitioned by UTC month of occurred_at (migration 0003), with a
DEFAULT partition for instants without a month of their own. Ingestion creates the
partitions of the months a batch names before storing it, so a new month never piles up
in the default partition. Known partitions are remembered per process (after commit):
the usual batch costs no query here. A stale memory is harmless: rows then go to the
default partition, never to an error.
"""

from datetime import UTC, datetime

from django.db import connection, transaction

from metering.models import LifecycleEvent, UsageEvent

PARTITIONED_TABLES = (LifecycleEvent._meta.db_table, UsageEvent._meta.db_table)
_known_partitions: set[tuple[str, str, str]] = set()  # (schema, table, "YYYY_MM")


def _month_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime | None:
    """The first instant of the following month; None after December 9999, which Python
    cannot write (that partition then runs to PostgreSQL's MAXVALUE)."""
    if (start.year, start.month) == (9999, 12):
        return None
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def usage_partitions_ensure(*, table: str, instants) -> list[str]:
    """Create the month partitions of `table` that `instants` fall in and that are
    missing; the names of those created. Rows the default partition held for such a
    month move into it. Serialized per schema and table (an advisory lock)."""
    schema = connection.schema_name
    months = {_month_start(at) for at in set(instants)}
    missing = [m for m in sorted(months) if (schema, table, f"{m:%Y_%m}") not in _known_partitions]
    if not missing:
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                       [f"{schema}:partitions:{table}"])
        cursor.execute(
            """
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.oid = to_regclass(%s)
            """,
            [table],
        )
        existing = {name for (name,) in cursor.fetchall()}
        for start in missing:
            name = f"{table}_p{start:%Y_%m}"
            if name not in existing:
                _partition_create(cursor, table, name, start, _next_month(start))
                created.append(name)
        known = {(schema, table, f"{m:%Y_%m}") for m in missing}
        transaction.on_commit(lambda: _known_partitions.update(known))
    return created


def _partition_create(cursor, table: str, name: str, start: datetime,
                      end: datetime | None) -> None:
    default = f"{table}_default"
    upper = "'infinity'::timestamptz" if end is None else "%s"
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {default} WHERE occurred_at >= %s "
        f"AND occurred_at < {upper})",
        [start] if end is None else [start, end],
    )
    to = "(MAXVALUE)" if end is None else f"('{end.isoformat()}')"
    bounds = f"FOR VALUES FROM ('{start.isoformat()}') TO {to}"
    if not cursor.fetchone()[0]:
        cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} {bounds}")
        return
    # The default partition holds rows of this month: move them into a new table,
    # then attach it (attaching checks the default partition holds none left).
    cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)")
    cursor.execute(
        f"WITH moved AS (DELETE FROM {default} WHERE occurred_at >= %s AND occurred_at < "
        f"{upper} RETURNING *) INSERT INTO {name} SELECT * FROM moved",
        [start] if end is None else [start, end],
    )
    cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} {bounds}")
