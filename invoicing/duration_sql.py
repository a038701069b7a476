"""Chargeback running time summed in PostgreSQL: no Python per lifecycle event.

`build_duration_lines` rates resource by resource from their events, which costs
Python objects and loops per event (a million events: most of a rating run). This
module reaches the same lines in three statements:

1. `_RESOURCES`: the resources `lifecycle_for_period` would load, into a temporary
   table.
2. `_INTERVALS`: their running intervals, with window functions applying the rules of
   `metering.domain.timeline.running_intervals` (events from the first `created`; a
   run starts at `created`, at `started` while stopped and at `resized` while running;
   it ends at the next event that stops, resizes or deletes, or at `until`). A resource
   whose events contradict each other is only flagged.
3. `_LINES`: the intervals clipped to the account windows and to the spans in which
   one price is in force (both computed in Python, `windows_by_project` and
   `priced_spans`: the matching rules stay in `catalog.domain.matching`), each piece
   billing ceil(microseconds / unit) whole units (`duration_units`, in integers), summed
   per line key.

Every resource with time no line holds (a flagged timeline, a gap without an account
or a price) is rated by `build_duration_lines` instead, which reports why; so are all
resources when SLA credits need the rated segments. The result is the same
`DurationRating`, to the unit.
"""

from datetime import datetime
from decimal import Decimal

from django.db import connection

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
    SELECT r.id, r.project_id, m.key AS metric_key, r.region, r.service_class
    FROM {resource} r JOIN {metric} m ON m.id = r.metric_id
    WHERE EXISTS (SELECT 1 FROM {event} e
                  WHERE e.resource_id = r.id AND e.occurred_at < %(until)s)
      AND NOT EXISTS (SELECT 1 FROM {event} e WHERE e.resource_id = r.id
                      AND e.kind = 'deleted' AND e.occurred_at < %(start)s)
      {projects}
"""

# The running state after an event is that of the last event other than `resized`, and
# the variant that of the last `created` or `resized`: "last such row" is the max of
# (row number, value) packed into one sortable value, so one ordered pass finds both.
_INTERVALS = """
    CREATE TEMPORARY TABLE pg_temp.rating_intervals ON COMMIT DROP AS
    WITH ordered AS (
        SELECT e.resource_id AS pk, e.occurred_at AS at, e.kind, e.variant,
               row_number() OVER (PARTITION BY e.resource_id
                                  ORDER BY e.occurred_at, {rank},
                                           e.event_id COLLATE "C") AS n,
               min(e.occurred_at) FILTER (WHERE e.kind = 'created')
                   OVER (PARTITION BY e.resource_id) AS created_at
        FROM {event} e JOIN pg_temp.rating_resources r ON r.id = e.resource_id
        WHERE e.occurred_at < %(until)s
    ), states AS (
        SELECT pk, at, kind, n,
               max(CASE WHEN kind <> 'resized'
                        THEN n * 2 + (kind IN ('created', 'started'))::int END)
                   OVER upto %% 2 = 1 AS running,
               coalesce(max(CASE WHEN kind <> 'resized'
                                 THEN n * 2 + (kind IN ('created', 'started'))::int END)
                            OVER before %% 2 = 1, false) AS was_running,
               substr(max(CASE WHEN kind IN ('created', 'resized')
                               THEN lpad(n::text, 12, '0') || variant END COLLATE "C")
                      OVER upto, 13) AS variant,
               count(*) FILTER (WHERE kind = 'deleted') OVER before > 0
                   OR count(*) FILTER (WHERE kind = 'created') OVER whole > 1 AS bad,
               least(coalesce(lead(at) OVER upto, %(until)s), %(until)s) AS next_at
        FROM ordered
        WHERE at >= created_at
        WINDOW upto AS (PARTITION BY pk ORDER BY n ROWS UNBOUNDED PRECEDING),
               before AS (PARTITION BY pk ORDER BY n
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
               whole AS (PARTITION BY pk)
    ), runs AS (
        SELECT pk, at, next_at, running, variant,
               bool_or(bad) OVER (PARTITION BY pk) AS bad,
               count(*) FILTER (WHERE running AND (NOT was_running OR kind = 'resized'))
                   OVER (PARTITION BY pk ORDER BY n ROWS UNBOUNDED PRECEDING) AS run
        FROM states
    )
    SELECT pk, bool_or(bad) AS bad, min(variant) AS variant, min(at) AS s, max(next_at) AS e
    FROM runs
    WHERE running OR bad
    GROUP BY pk, run
    HAVING bool_or(bad) OR (max(next_at) > min(at) AND max(next_at) > %(start)s)
"""

_COMBINATIONS = """
    SELECT DISTINCT r.metric_key, i.variant, r.region, r.service_class
    FROM pg_temp.rating_intervals i JOIN pg_temp.rating_resources r ON r.id = i.pk
    WHERE NOT i.bad
"""

_LINES = """
    WITH windows AS (
        SELECT * FROM unnest(%(w_project)s::bigint[], %(w_account)s::bigint[],
                             %(w_start)s::timestamptz[], %(w_end)s::timestamptz[])
            AS w(project_id, account_id, s, e)
    ), spans AS (
        SELECT * FROM unnest(%(p_metric)s::text[], %(p_variant)s::text[], %(p_region)s::text[],
                             %(p_class)s::text[], %(p_start)s::timestamptz[],
                             %(p_end)s::timestamptz[], %(p_index)s::int[], %(p_unit)s::bigint[])
            AS p(metric_key, variant, region, service_class, s, e, idx, unit_us)
    ), pieces AS MATERIALIZED (
        SELECT i.pk, r.project_id, w.account_id, r.metric_key, i.variant, r.region,
               r.service_class, p.idx, p.unit_us,
               greatest(i.s, w.s, p.s) AS s, least(i.e, w.e, p.e) AS e,
               ((extract(epoch FROM least(i.e, w.e, p.e))
                 - extract(epoch FROM greatest(i.s, w.s, p.s))) * 1000000)::bigint AS us
        FROM pg_temp.rating_intervals i
        JOIN pg_temp.rating_resources r ON r.id = i.pk
        JOIN windows w ON w.project_id = r.project_id AND w.s < i.e AND i.s < w.e
        JOIN spans p ON p.metric_key = r.metric_key AND p.variant = i.variant
             AND p.region = r.region AND p.service_class = r.service_class
             AND p.s < i.e AND i.s < p.e AND p.s < w.e AND w.s < p.e
        WHERE NOT i.bad
    ), expected AS (
        SELECT pk, bool_or(bad) AS bad,
               sum(((extract(epoch FROM e) - extract(epoch FROM greatest(s, %(start)s)))
                    * 1000000)::bigint) AS us
        FROM pg_temp.rating_intervals GROUP BY pk
    ), covered AS (
        SELECT pk, sum(us) AS us FROM pieces GROUP BY pk
    ), unclean AS (
        SELECT x.pk FROM expected x LEFT JOIN covered c ON c.pk = x.pk
        WHERE x.bad OR x.us <> coalesce(c.us, 0)
    )
    SELECT account_id, project_id, metric_key, variant, region, service_class, idx,
           sum((us + unit_us - 1) / unit_us), array_agg(DISTINCT pk),
           array_remove(array_agg(DISTINCT CASE WHEN e = %(until)s THEN pk END), NULL),
           min(s), max(e), NULL::bigint
    FROM pieces p
    WHERE NOT EXISTS (SELECT 1 FROM unclean u WHERE u.pk = p.pk)
    GROUP BY account_id, project_id, metric_key, variant, region, service_class, idx
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, pk
    FROM unclean
"""


def duration_rating_sql(*, rated: Period, cycle: Period, prices: list[DurationPrice],
                        assignments, project_ids=None) -> tuple[DurationRating, int]:
    """What `build_duration_lines` makes of the resources `lifecycle_for_period(rated,
    project_ids)` loads, and how many resources that is. Run inside the rating's
    transaction (the temporary tables drop at its commit)."""
    until = rated.end
    tables = {"resource": Resource._meta.db_table, "metric": Metric._meta.db_table,
              "event": LifecycleEvent._meta.db_table}
    rank = "CASE e.kind " + " ".join(f"WHEN '{kind}' THEN {order}"
                                     for kind, order in KIND_ORDER.items()) + " END"
    params = {"start": rated.start, "until": until, "projects": list(project_ids or [])}
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.rating_intervals, pg_temp.rating_resources")
        # The sorts of a million events fit in memory; on disk they cost twice as much.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        projects = "AND r.project_id = ANY(%(projects)s)" if project_ids is not None else ""
        cursor.execute(_RESOURCES.format(**tables, projects=projects), params)
        resources = cursor.rowcount
        cursor.execute(_INTERVALS.format(**tables, rank=rank), params)
        cursor.execute(_COMBINATIONS)
        spans = priced_spans(combinations=cursor.fetchall(), prices=prices,
                             window=Period(start=cycle.start, end=until))
        cursor.execute(_LINES, {**params, **_windows_params(assignments, cycle, until),
                                **_spans_params(spans)})
        rows = cursor.fetchall()
    aggregates, unclean = [], []
    for *line, unclean_pk in rows:
        if unclean_pk is not None:
            unclean.append(unclean_pk)
            continue
        account, project, metric, variant, region, service_class, idx = line[:7]
        units, pks, running, start, end = line[7:]
        aggregates.append(LineAggregate(
            billing_account_id=account, project_id=project, metric_key=metric,
            variant=variant, region=region, service_class=service_class,
            price=spans[idx].price, units=Decimal(units), resource_pks=frozenset(pks),
            running_pks=frozenset(running), start=start, end=end,
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
