"""Ingestion benchmark: usage events through the HTTP batch API, next to raw COPY.

    .venv/bin/python bench/ingest.py --scale small|full

The real path: gunicorn (billing.wsgi with billing/gunicorn_conf.py, as deployed) on
loopback, POST /api/v1/usage/events with 1,000 events a batch, an API key checked on
every request, dedup on (every id is claimed in the ids table). Client threads send
for the whole duration (small 10 s, full 60 s); figures: events/s sustained, p50/p99
batch latency. Then a re-send of already stored batches
(all duplicates). Beside them, the physical limit on the same machine, same run:
PostgreSQL's COPY of the same rows into the same table.
"""

import http.client
import re
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SCALES = {"small": {"seconds": 10, "copy_rows": 200_000},
          "full": {"seconds": 60, "copy_rows": 1_000_000}}
BATCH = 1000
CLIENTS = 4
PROJECTS = 100
ACCEPTED = re.compile(rb'"accepted":\s*(\d+)')


def main() -> None:
    args = common.parser(__doc__.splitlines()[0]).parse_args()
    scale = SCALES[args.scale]
    common.setup(args)
    info = common.machine()
    common.print_machine(info)

    provider = common.provider_new("bench-ingest")
    common.say(f"provider {provider.slug} (schema {provider.schema_name})")
    try:
        key = _catalog(provider)
        host = f"{provider.slug}.localhost"
        server = common.Gunicorn()
        try:
            # Warm-up (imports, connections, caches of each worker): not counted.
            _http_run(server.port, host, key, 2, prefix="warm")
            run = _http_run(server.port, host, key, scale["seconds"], prefix="e")
            resend = _http_run(server.port, host, key, min(5, scale["seconds"]), prefix="e",
                               expect_accepted=False)
        finally:
            server.stop()
        copy_rate = _copy(provider, scale["copy_rows"])
        bare_rate = _copy(provider, scale["copy_rows"], bare=True)
        _report(run, resend, copy_rate, bare_rate, info)
    finally:
        if not args.keep:
            common.provider_drop(provider)


def _catalog(provider) -> str:
    from accounts.api_keys import api_key_issue
    from accounts.models import BillingAccount, Organization, Project, ProjectAccountAssignment
    from catalog.models import Aggregation, Metric

    with common.inside(provider):
        Metric.objects.create(key="requests", name="Requests", aggregation=Aggregation.SUM)
        org = Organization.objects.create(name="bench-org", display_name="Bench")
        account = BillingAccount.objects.create(organization=org, name="Main", is_default=True)
        for n in range(PROJECTS):
            project = Project.objects.create(name=f"p{n}", organization=org)
            ProjectAccountAssignment.objects.create(
                project=project, billing_account=account,
                valid_from=datetime(2000, 1, 1, tzinfo=UTC))
        return api_key_issue(username="bench", name="bench").secret


def _template(prefix: str) -> bytes:
    """One batch as JSON, with @@ where the batch number goes (ids unique per batch)."""
    at = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = ",".join(
        f'{{"event_id":"{prefix}-@@-{i}","metric":"requests","project":"p{i % PROJECTS}",'
        f'"occurred_at":"{at}","value":"{i % 7}.25"}}'
        for i in range(BATCH)
    )
    return f'{{"events":[{events}]}}'.encode()


def _http_run(port: int, host: str, key: str, seconds: float, prefix: str,
              expect_accepted: bool = True) -> dict:
    template = _template(prefix)
    counter = iter(range(10**9))
    lock = threading.Lock()
    latencies: list[float] = []
    accepted = [0]
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    headers = {"Host": host, "Authorization": f"Bearer {key}",
               "Content-Type": "application/json"}

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.perf_counter() < stop_at:
            with lock:
                n = next(counter)
            body = template.replace(b"@@", str(n).encode())
            started = time.perf_counter()
            conn.request("POST", "/api/v1/usage/events", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                errors.append(f"{response.status}: {data[:300]!r}")
                break
            found = ACCEPTED.search(data[:200])
            with lock:
                latencies.append(elapsed)
                accepted[0] += int(found.group(1)) if found else 0
        conn.close()

    label = "new events" if expect_accepted else "re-sent (all duplicates)"
    common.say(f"HTTP: {CLIENTS} clients, {BATCH}-event batches, {seconds:.0f} s: {label}")
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        done = len(latencies) * BATCH
        print(f"\r  {done:,} events, {done / (time.perf_counter() - started):,.0f}/s",
              end="", flush=True)
    print()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"the API answered an error: {errors[0]}")
    events = len(latencies) * BATCH
    return {"events": events, "accepted": accepted[0], "seconds": elapsed,
            "rate": events / elapsed, "p50": common.percentile(latencies, 50) * 1000,
            "p99": common.percentile(latencies, 99) * 1000, "batches": len(latencies),
            "label": label}


def _copy(provider, rows: int, *, bare: bool = False) -> float:
    """COPY the same rows (same table, same columns) straight into PostgreSQL, their ids
    claimed as storing an event requires (a foreign key, metering migration 0005).

    `bare`: the rows alone, with foreign keys not checked (session_replication_role
    replica): what the table's heap and indexes cost, the limit before that key."""
    from django.db import connection

    from catalog.models import Metric

    what = "the rows alone, keys not checked" if bare else "ids claimed, then the rows"
    common.say(f"raw COPY of {rows:,} rows into the same table ({what})")
    prefix = "bare" if bare else "copy"
    with common.inside(provider):
        metric_id = Metric.objects.get(key="requests").pk
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM accounts_project ORDER BY id")
            projects = [r[0] for r in cursor.fetchall()]
        at = datetime.now(UTC) - timedelta(hours=1)
        now = datetime.now(UTC)
        raw = connection.connection  # psycopg 3
        started = time.perf_counter()
        with raw.cursor() as cursor:
            if bare:
                cursor.execute("SET session_replication_role = replica")
            else:
                with cursor.copy("COPY metering_usageevent_ids (event_id) FROM STDIN") as copy:
                    for i in range(rows):
                        copy.write_row((f"{prefix}-{i}",))
            with cursor.copy(
                "COPY metering_usageevent (event_id, metric_id, project_id, occurred_at, "
                "value, attributes, received_at) FROM STDIN"
            ) as copy:
                for i in range(rows):
                    copy.write_row((f"{prefix}-{i}", metric_id, projects[i % len(projects)], at,
                                    f"{i % 7}.25", "{}", now))
        raw.commit() if not raw.autocommit else None
        elapsed = time.perf_counter() - started
        if bare:
            with raw.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
    return rows / elapsed


def _report(run: dict, resend: dict, copy_rate: float, bare_rate: float, info: dict) -> None:
    print()
    common.say(f"ingestion, {info['nproc']} cpu, load {common.load()}")
    common.table(
        [
            ("HTTP batch API, new events", f"{run['rate']:,.0f}", f"{run['p50']:.0f}",
             f"{run['p99']:.0f}", f"{run['accepted']:,} accepted of {run['events']:,}"),
            ("HTTP batch API, re-sent", f"{resend['rate']:,.0f}", f"{resend['p50']:.0f}",
             f"{resend['p99']:.0f}", f"{resend['accepted']:,} accepted (duplicates)"),
            ("raw COPY, same rows/table", f"{copy_rate:,.0f}", "", "",
             "the physical limit: ids claimed, then the rows"),
            ("raw COPY, rows alone", f"{bare_rate:,.0f}", "", "",
             "foreign keys not checked (no writer may do this)"),
        ],
        ("path", "events/s", "p50 ms", "p99 ms", "notes"),
    )
    share = run["rate"] / copy_rate * 100
    print(f"\nHTTP ingestion is {share:.0f}% of raw COPY (target >= 25%), "
          f"{run['rate'] / bare_rate * 100:.0f}% of the rows' COPY alone; "
          f"target 25,000 events/s: {'met' if run['rate'] >= 25000 else 'missed'}")


if __name__ == "__main__":
    main()
