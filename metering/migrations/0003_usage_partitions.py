"""The usage store partitioned by month (PostgreSQL declarative partitioning).

`metering_lifecycleevent` and `metering_usageevent` become tables partitioned by
RANGE (occurred_at), one partition per UTC month plus a DEFAULT partition that
catches any instant without a month partition of its own (so no insert ever fails
for want of a partition). Old months then cost nothing: a query for a cycle reads
only its months' partitions, and a month can be detached and archived whole.

A partitioned table cannot have a unique constraint that leaves out its partition
key, so uniqueness of event ids moves to a small table per stream
(`metering_lifecycleevent_ids`, `metering_usageevent_ids`: one primary key column)
that ingestion claims ids in, in the same statement that stores the events
(`INSERT ... ON CONFLICT DO NOTHING`, see metering/lifecycle_writes.py and
metering/usage_ingest.py): idempotent and safe
under concurrent batches, exactly as the unique constraint was. The primary key
becomes (id, occurred_at); `id` stays unique (a sequence), which is all the ORM needs.

Partitions are created here from the oldest stored month (at most two years back)
to three months ahead; later months are created on demand by ingestion
(`metering.partitions.usage_partitions_ensure`), moving any rows the DEFAULT
partition held for that month. Data are copied, so the migration costs one copy of
the usage store; it runs once per schema, and a fresh schema has nothing to copy.

The model state is unchanged (event_id stays declared unique: the ids table keeps
it so), hence RunPython with SQL only.
"""

from datetime import UTC, datetime

from django.db import migrations

MONTHS_BACK = 24
MONTHS_AHEAD = 3

LIFECYCLE = {
    "table": "metering_lifecycleevent",
    "columns": """
        id bigint NOT NULL,
        event_id varchar(200) NOT NULL,
        kind varchar(10) NOT NULL,
        occurred_at timestamptz NOT NULL,
        variant varchar(100) NOT NULL,
        received_at timestamptz NOT NULL,
        resource_id bigint NOT NULL
    """,
    "names": "id, event_id, kind, occurred_at, variant, received_at, resource_id",
    "indexes": [
        ("metering_li_occurre_7a07ee_idx", "(occurred_at)"),
        ("metering_li_resourc_544c2d_idx", "(resource_id, occurred_at)"),
        ("metering_lifecycleevent_event_id_idx", "(event_id)"),
        ("metering_lifecycleevent_received_at_2894876b", "(received_at)"),
        ("metering_lifecycleevent_resource_id_504d122b", "(resource_id)"),
    ],
    "foreign_keys": [
        ("metering_lifecycleev_resource_id_504d122b_fk_metering_", "resource_id",
         "metering_resource"),
    ],
}
USAGE = {
    "table": "metering_usageevent",
    "columns": """
        id bigint NOT NULL,
        event_id varchar(200) NOT NULL,
        occurred_at timestamptz NOT NULL,
        value numeric(30, 10) NOT NULL,
        attributes jsonb NOT NULL,
        received_at timestamptz NOT NULL,
        metric_id bigint NOT NULL,
        project_id bigint NOT NULL
    """,
    "names": "id, event_id, occurred_at, value, attributes, received_at, metric_id, project_id",
    "indexes": [
        ("metering_us_occurre_835db2_idx", "(occurred_at)"),
        ("metering_us_project_a01f16_idx", "(project_id, metric_id, occurred_at)"),
        ("metering_usageevent_event_id_idx", "(event_id)"),
        ("metering_usageevent_metric_id_ea9803d2", "(metric_id)"),
        ("metering_usageevent_project_id_d5ea30fb", "(project_id)"),
    ],
    "foreign_keys": [
        ("metering_usageevent_metric_id_ea9803d2_fk_catalog_metric_id", "metric_id",
         "catalog_metric"),
        ("metering_usageevent_project_id_d5ea30fb_fk_accounts_project_id", "project_id",
         "accounts_project"),
    ],
}


def _month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def _month(index: int) -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _partition(schema_editor, spec: dict) -> None:
    table = spec["table"]
    staging = f"{table}_partitioned"
    run = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min(occurred_at), coalesce(max(id), 0) FROM {table}")
        oldest, max_id = cursor.fetchone()
    now = datetime.now(UTC)
    current = _month_index(now.year, now.month)
    first = current
    if oldest is not None:
        oldest = oldest.astimezone(UTC)
        first = max(min(first, _month_index(oldest.year, oldest.month)), current - MONTHS_BACK)

    run(f"CREATE TABLE {staging} ({spec['columns']}) PARTITION BY RANGE (occurred_at)")
    run(f"CREATE TABLE {table}_default PARTITION OF {staging} DEFAULT")
    for index in range(first, current + MONTHS_AHEAD + 1):
        start, end = _month(index), _month(index + 1)
        run(
            f"CREATE TABLE {table}_p{start:%Y_%m} PARTITION OF {staging} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    run(f"INSERT INTO {staging} ({spec['names']}) SELECT {spec['names']} FROM {table}")
    run(f"CREATE TABLE {table}_ids (event_id varchar(200) PRIMARY KEY)")
    run(f"INSERT INTO {table}_ids (event_id) SELECT event_id FROM {table}")
    run(f"DROP TABLE {table}")
    run(f"ALTER TABLE {staging} RENAME TO {table}")
    run(f"CREATE SEQUENCE {table}_id_seq OWNED BY {table}.id")
    run(f"SELECT setval('{table}_id_seq', {int(max_id) + 1}, false)")
    run(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq')")
    run(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id, occurred_at)")
    for name, columns in spec["indexes"]:
        run(f"CREATE INDEX {name} ON {table} {columns}")
    for name, column, target in spec["foreign_keys"]:
        run(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
            f"REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
        )


def forwards(apps, schema_editor):
    for spec in (LIFECYCLE, USAGE):
        _partition(schema_editor, spec)


def backwards(apps, schema_editor):
    raise RuntimeError("the usage store stays partitioned: restore a backup to go back")


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ("metering", "0002_consumer_metering"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
