"""The bulk statements that write a lifecycle batch: new resources, their parents,
stored resources' variant and attributes, and the accepted events.

Each is one statement over arrays, whatever the batch's size. metering/lifecycle_store.py
decides what to write; these only write it.
"""

from datetime import datetime

from django.db import connection

from metering.ingestion import attributes_json
from metering.lifecycle_items import LifecycleItem
from metering.models import LifecycleEvent, Resource


def resources_insert(rows: list[tuple[LifecycleItem, str, dict, int | None]],
                     now: datetime) -> dict[str, int]:
    """Insert new resources, each as (its first accepted item, its variant after the
    batch, its merged attributes, its creator's user id); parents are linked afterwards.
    Their pks by resource_id; those a concurrent batch created first are left out of the
    answer."""
    if not rows:
        return {}
    firsts = [first for first, _, _, _ in rows]
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table}
                (resource_id, metric_id, project_id, variant, region, service_class,
                 attributes, created_by_id, created_at)
            SELECT v.resource_id, v.metric_id, v.project_id, v.variant, v.region,
                   v.service_class, v.attributes::jsonb, v.created_by_id, %s
            FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[],
                        %s::text[], %s::text[], %s::bigint[])
                AS v(resource_id, metric_id, project_id, variant, region, service_class,
                     attributes, created_by_id)
            ORDER BY v.resource_id
            ON CONFLICT (resource_id) DO NOTHING
            RETURNING resource_id, id
            """,
            [
                now,
                [f.resource_id for f in firsts],
                [f.metric_id for f in firsts],
                [f.project_id for f in firsts],
                [variant for _, variant, _, _ in rows],
                [f.region for f in firsts],
                [f.service_class for f in firsts],
                [attributes_json(attributes) for _, _, attributes, _ in rows],
                [creator for _, _, _, creator in rows],
            ],
        )
        return dict(cursor.fetchall())


def parents_link(links: list[tuple[int, str]], pks: dict[str, int]) -> None:
    """Set the parent of resources just created (their parents may be new too)."""
    if not links:
        return
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS r SET parent_id = v.parent_id
            FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, parent_id)
            WHERE r.id = v.id
            """,
            [[pk for pk, _ in links], [pks[parent] for _, parent in links]],
        )


def resources_update(changes: list[tuple[int, str, str]]) -> None:
    """Set stored resources' latest variant and merge in their new attributes, each
    change as (pk, variant, attributes as JSON text)."""
    if not changes:
        return
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS r
            SET variant = v.variant, attributes = r.attributes || v.attributes::jsonb
            FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, variant, attributes)
            WHERE r.id = v.id
            """,
            [[c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes]],
        )


def events_insert(rows: list[tuple[LifecycleItem, int]], now: datetime) -> set[str]:
    """Insert accepted events; the ids actually inserted (not stored meanwhile)."""
    if not rows:
        return set()
    table = LifecycleEvent._meta.db_table
    with connection.cursor() as cursor:
        # The ids table holds event_id unique (the partitioned store cannot): an id a
        # concurrent batch claimed first is left out, as ON CONFLICT DO NOTHING did.
        # Claimed in id order, so two batches sharing ids wait on each other in the
        # same order and never deadlock.
        cursor.execute(
            f"""
            WITH v AS (
                SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[],
                                     %s::timestamptz[], %s::text[])
                    AS v(event_id, resource_id, kind, occurred_at, variant)
            ), claimed AS (
                INSERT INTO {table}_ids (event_id) SELECT event_id FROM v ORDER BY event_id
                ON CONFLICT DO NOTHING
                RETURNING event_id
            )
            INSERT INTO {table} (event_id, resource_id, kind, occurred_at, variant, received_at)
            SELECT v.event_id, v.resource_id, v.kind, v.occurred_at, v.variant, %s
            FROM v JOIN claimed USING (event_id)
            RETURNING event_id
            """,
            [
                [item.event_id for item, _ in rows],
                [pk for _, pk in rows],
                [item.kind for item, _ in rows],
                [item.at for item, _ in rows],
                [item.variant for item, _ in rows],
                now,
            ],
        )
        return {row[0] for row in cursor.fetchall()}

