"""Chargeback running time summed in PostgreSQL: no Python per lifecycle event.

`build_duration_lines` rates resource by resource from their events, which costs
Python objects and loops per event (a million events: most of a rating run). This
module reaches the same lines in a few statements over temporary tables:

1. `_RESOURCES`: the resources `lifecycle_for_period` would load, into a temporary
   table.
2. `_INTERVALS`: their running intervals, with window functions applying the rules of
   `metering.domain.timeline.running_intervals` (events from the first `created`; a
   run starts at `created`, at `started` while stopped and at `resized` while running;
   it ends at the next event that stops, resizes or deletes, or at `until`). A resource
   whose events contradict each other is only flagged.
3. `_LINES` (after `_WINDOWS` and `_SPANS`): the intervals clipped to the account
   windows and to the spans in which one price is in force (both computed in Python,
   `windows_by_project` and `priced_spans`: the matching rules stay in
   `catalog.domain.matching`), each piece billing ceil(microseconds / unit) whole units
   (`duration_units`, in integers), summed per line key.

Every resource with time no line holds (a flagged timeline, a gap without an account
or a price) is rated by `build_duration_lines` instead, which reports why. The result
is the same `DurationRating` (less the per-segment detail SLA credits need: the rating
run takes the one-by-one path when the cycle has credits), to the unit.
"""

from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction

from catalog.domain.matching import DurationPrice
from catalog.models import Metric
from core.periods import Period
from invoicing.domain.lines import (
    DurationRating,
    LineAggregate,
    build_duration_lines,
    lines_with_aggregates,
    priced_spans,
    windows_by_project,
)
from metering.domain.lifecycle import KIND_ORDER
from metering.models import LifecycleEvent, Resource
from metering.selectors import lifecycle_for_period

MICROSECONDS = 1_000_000

_RESOURCES = """
    CREATE TEMPORARY TABLE pg_temp.rating_resources ON COMMIT DROP AS
    SELECT r.id, r.project_id, m.key AS metric_key, r.region, r.service_class,
           r.created_by_id
    FROM {resource} r JOIN {metric} m ON m.id = r.metric_id
    WHERE EXISTS (SELECT 1 FROM {event} e
                  WHERE e.resource_id = r.id AND e.occurred_at < %(until)s)
      AND NOT EXISTS (SELECT 1 FROM {event} e WHERE e.resource_id = r.id
                      AND e.kind = 'deleted' AND e.occurred_at < %(start)s)
      {projects}
"""

# One ordered pass over each resource's events (from its first `created`) finds:
# - the running state after an event: that of the last event other than `resized`,
#   and the variant: that of the last `created` or `resized`. "Last such row" is the
#   max of (row number, value) packed into one sortable value;
# - the run an event belongs to: the count of events other than `started` so far (a
#   `started` while running changes nothing; every other event ends a run or, while
#   stopped, leaves the next `started` to begin one);
# - a contradiction: a second `created`, or any event after `deleted`.
_INTERVALS = """
    CREATE TEMPORARY TABLE pg_temp.rating_intervals ON COMMIT DROP AS
    WITH ordered AS (
        SELECT e.resource_id AS pk, e.occurred_at AS at, {rank} AS rnk,
               e.event_id COLLATE "C" AS eid, e.kind, e.variant,
               row_number() OVER w AS n,
               min(e.occurred_at) FILTER (WHERE e.kind = 'created') OVER w AS created_at
        FROM {event} e JOIN pg_temp.rating_resources r ON r.id = e.resource_id
        WHERE e.occurred_at < %(until)s
        WINDOW w AS (PARTITION BY e.resource_id ORDER BY e.occurred_at, {rank},
                     e.event_id COLLATE "C" ROWS UNBOUNDED PRECEDING)
    ), states AS (
        SELECT pk, at,
               max(CASE WHEN kind <> 'resized'
                        THEN n * 2 + (kind IN ('created', 'started'))::int END)
                   OVER w %% 2 = 1 AS running,
               substr(max(CASE WHEN kind IN ('created', 'resized')
                               THEN lpad(n::text, 12, '0') || variant END COLLATE "C")
                      OVER w, 13) AS variant,
               count(*) FILTER (WHERE kind <> 'started') OVER w AS run,
               count(*) FILTER (WHERE kind = 'created') OVER w > 1
                   OR count(*) FILTER (WHERE kind = 'deleted') OVER w
                      > (kind = 'deleted')::int AS bad,
               least(coalesce(lead(at) OVER w, %(until)s), %(until)s) AS next_at
        FROM ordered
        WHERE at >= created_at
        WINDOW w AS (PARTITION BY pk ORDER BY at, rnk, eid ROWS UNBOUNDED PRECEDING)
    )
    SELECT pk, bool_or(bad) AS bad, min(variant) AS variant, min(at) AS s, max(next_at) AS e,
           ((extract(epoch FROM max(next_at)) - extract(epoch FROM greatest(min(at), %(start)s)))
            * 1000000)::bigint AS us
    FROM states
    WHERE running OR bad
    GROUP BY pk, run
    HAVING bool_or(bad) OR (max(next_at) > min(at) AND max(next_at) > %(start)s)
"""

# The account windows and priced spans, computed in Python, as tables the planner can
# count (an unnested array is guessed at a row or a hundred).
_WINDOWS = """
    CREATE TEMPORARY TABLE pg_temp.rating_windows ON COMMIT DROP AS
    SELECT * FROM unnest(%(w_project)s::bigint[], %(w_account)s::bigint[],
                         %(w_start)s::timestamptz[], %(w_end)s::timestamptz[])
        AS w(project_id, account_id, s, e)
"""
_SPANS = """
    CREATE TEMPORARY TABLE pg_temp.rating_spans ON COMMIT DROP AS
    SELECT * FROM unnest(%(p_metric)s::text[], %(p_variant)s::text[], %(p_region)s::text[],
                         %(p_class)s::text[], %(p_start)s::timestamptz[],
                         %(p_end)s::timestamptz[], %(p_index)s::int[], %(p_unit)s::bigint[])
        AS p(metric_key, variant, region, service_class, s, e, idx, unit_us)
"""
_TEMPORARY = ("pg_temp.rating_resources", "pg_temp.rating_intervals", "pg_temp.rating_windows",
              "pg_temp.rating_spans")

_COMBINATIONS = """
    SELECT DISTINCT r.metric_key, i.variant, r.region, r.service_class
    FROM pg_temp.rating_intervals i JOIN pg_temp.rating_resources r ON r.id = i.pk
    WHERE NOT i.bad
"""

# Pieces are summed per resource and line first: what a resource's lines cover is then
# compared with its running time in the window (`us`) over ten thousand rows, not a
# million. A resource whose time is not all covered is left to `build_duration_lines`.
_LINES = """
    WITH pieces AS (
        SELECT i.pk, w.account_id, i.variant, p.idx, p.unit_us,
               greatest(i.s, w.s, p.s) AS s, least(i.e, w.e, p.e) AS e,
               ((extract(epoch FROM least(i.e, w.e, p.e))
                 - extract(epoch FROM greatest(i.s, w.s, p.s))) * 1000000)::bigint AS us
        FROM pg_temp.rating_intervals i
        JOIN pg_temp.rating_resources r ON r.id = i.pk
        JOIN pg_temp.rating_windows w ON w.project_id = r.project_id AND w.s < i.e AND i.s < w.e
        JOIN pg_temp.rating_spans p ON p.metric_key = r.metric_key AND p.variant = i.variant
             AND p.region = r.region AND p.service_class = r.service_class
             AND p.s < i.e AND i.s < p.e AND p.s < w.e AND w.s < p.e
        WHERE NOT i.bad
    ), per_resource AS MATERIALIZED (
        SELECT pk, account_id, variant, idx, sum((us + unit_us - 1) / unit_us) AS units,
               sum(us) AS us, min(s) AS s, max(e) AS e, bool_or(e = %(until)s) AS running
        FROM pieces GROUP BY pk, account_id, variant, idx
    ), unclean AS (
        SELECT x.pk FROM (SELECT pk, bool_or(bad) AS bad, sum(us) AS us
                          FROM pg_temp.rating_intervals GROUP BY pk) x
        LEFT JOIN (SELECT pk, sum(us) AS us FROM per_resource GROUP BY pk) c ON c.pk = x.pk
        WHERE x.bad OR x.us <> coalesce(c.us, 0)
    )
    SELECT l.account_id, r.project_id, r.metric_key, l.variant, r.region, r.service_class,
           l.idx, r.created_by_id, sum(l.units), array_agg(l.pk),
           array_remove(array_agg(CASE WHEN l.running THEN l.pk END), NULL),
           min(l.s), max(l.e), NULL::bigint
    FROM per_resource l JOIN pg_temp.rating_resources r ON r.id = l.pk
    WHERE NOT EXISTS (SELECT 1 FROM unclean u WHERE u.pk = l.pk)
    GROUP BY l.account_id, r.project_id, r.metric_key, l.variant, r.region, r.service_class,
             l.idx, r.created_by_id
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, pk
    FROM unclean
"""


def duration_rating_sql(*, rated: Period, cycle: Period, prices: list[DurationPrice],
                        assignments, project_ids=None) -> tuple[DurationRating, int]:
    """What `build_duration_lines` makes of the resources `lifecycle_for_period(rated,
    project_ids)` loads, and how many resources that is."""
    until = rated.end
    tables = {"resource": Resource._meta.db_table, "metric": Metric._meta.db_table,
              "event": LifecycleEvent._meta.db_table}
    rank = "CASE e.kind " + " ".join(f"WHEN '{kind}' THEN {order}"
                                     for kind, order in KIND_ORDER.items()) + " END"
    params = {"start": rated.start, "until": until, "projects": list(project_ids or [])}
    # The temporary tables live until the transaction ends (a savepoint in a rating run).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(_TEMPORARY)}")
        # The sorts of a million events fit in memory; on disk they cost twice as much.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        projects = "AND r.project_id = ANY(%(projects)s)" if project_ids is not None else ""
        cursor.execute(_RESOURCES.format(**tables, projects=projects), params)
        resources = cursor.rowcount
        cursor.execute(_INTERVALS.format(**tables, rank=rank), params)
        cursor.execute(_COMBINATIONS)
        spans = priced_spans(combinations=cursor.fetchall(), prices=prices,
                             window=Period(start=cycle.start, end=until))
        cursor.execute(_WINDOWS, _windows_params(assignments, cycle, until))
        cursor.execute(_SPANS, _spans_params(spans))
        # Temporary tables have no statistics until analyzed: without them the planner
        # guesses a handful of rows and sorts what it should hash.
        cursor.execute(f"ANALYZE {', '.join(_TEMPORARY)}")
        cursor.execute(_LINES, params)
        rows = cursor.fetchall()
    aggregates, unclean = [], []
    for *line, unclean_pk in rows:
        if unclean_pk is not None:
            unclean.append(unclean_pk)
            continue
        account, project, metric, variant, region, service_class, idx, creator = line[:8]
        units, pks, running, start, end = line[8:]
        aggregates.append(LineAggregate(
            billing_account_id=account, project_id=project, metric_key=metric,
            variant=variant, region=region, service_class=service_class,
            price=spans[idx].price, units=Decimal(units), resource_pks=frozenset(pks),
            running_pks=frozenset(running), start=start, end=end, creator_id=creator,
        ))
    rest = build_duration_lines(
        resources=lifecycle_for_period(period=rated, resource_pks=unclean) if unclean else [],
        prices=prices, assignments=assignments, cycle=cycle, until=until,
    )
    return lines_with_aggregates(aggregates, rest), resources


def _windows_params(assignments, cycle: Period, until: datetime) -> dict:
    windows = windows_by_project(assignments, Period(start=cycle.start, end=until))
    flat = [(project, account, period) for project, spans in windows.items()
            for account, period in spans]
    return {"w_project": [p for p, _, _ in flat], "w_account": [a for _, a, _ in flat],
            "w_start": [w.start for _, _, w in flat], "w_end": [w.end for _, _, w in flat]}


def _spans_params(spans) -> dict:
    return {
        "p_metric": [s.metric_key for s in spans], "p_variant": [s.variant for s in spans],
        "p_region": [s.region for s in spans], "p_class": [s.service_class for s in spans],
        "p_start": [s.period.start for s in spans], "p_end": [s.period.end for s in spans],
        "p_index": list(range(len(spans))),
        "p_unit": [int(s.price.unit.seconds * MICROSECONDS) for s in spans],
    }
