"""API read benchmark: billing summaries and the entitlement check under load.

    .venv/bin/python bench/api.py --scale small|full
    .venv/bin/python bench/api.py --only check --rates 500x5,1000 --compare-db

The real path: gunicorn (billing.wsgi with billing/gunicorn_conf.py, as deployed)
on loopback, an API key on every request. An open-loop load generator (threads on
keep-alive connections, each request sent at its scheduled instant; latency counted
from that instant, so a slow server cannot hide its queue) drives, one at a time:
POST /api/v1/entitlements/check, GET /api/v1/organizations/{org}/billing,
GET /api/v1/projects/{project}/billing, and beside them the physical limit of the
same stack: GET /api/v1/whoami (a trivial view behind the same middleware and
API-key auth) and GET /healthz (no auth, no database). Small: 10 s per rate; full:
30 s per rate, more rates. The provider holds 20 organizations x 5 projects,
2,000 resources rated into this cycle's drafts, and an offer with a quota.
Every run prints p50/p95/p99 and the load average when it started; --compare-db
then runs the check again on a server with its cache off (TALLY_QUOTA_CACHE=0: every
check reads PostgreSQL, as before accounts/quota_cache.py), in the same sitting;
--compare-hot runs it again without the check's hot path (TALLY_HOT_CHECK=0: through
Django's middleware and DRF, as before billing/hot_check.py).
"""

import http.client
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import world  # noqa: E402

SCALES = {
    "small": {"seconds": 10, "plan": [("check", 500), ("org", 100), ("project", 100),
                                      ("whoami", 500), ("healthz", 500)]},
    "full": {"seconds": 30, "plan": [("check", 250), ("check", 500), ("check", 1000),
                                     ("org", 100), ("org", 200), ("project", 100),
                                     ("project", 200), ("whoami", 500), ("whoami", 1000),
                                     ("healthz", 1000)]},
}
THREADS = 32


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--only", choices=("check", "org", "project", "whoami", "healthz"),
                   help="run one endpoint of the plan")
    p.add_argument("--workers", type=int, help="default: billing/gunicorn_conf.py's")
    p.add_argument("--threads", type=int, help="default: billing/gunicorn_conf.py's")
    p.add_argument("--rates", help="target rates for --only, each with its runs: "
                   "500x5,1000 (default: the plan's)")
    p.add_argument("--runs", type=int, default=1, help="runs of each rate")
    p.add_argument("--seconds", type=float, help="seconds per run (default: the scale's)")
    p.add_argument("--compare-db", action="store_true",
                   help="then run the check again with its cache off (TALLY_QUOTA_CACHE=0): "
                   "every check reads PostgreSQL, the path before the cache")
    p.add_argument("--compare-hot", action="store_true",
                   help="then run the check again without its hot path (TALLY_HOT_CHECK=0): "
                   "through Django's middleware and DRF")
    args = p.parse_args()
    scale = SCALES[args.scale]
    plan = [(name, rate) for name, rate in scale["plan"] if not args.only or name == args.only]
    plan = [step for step in plan for _ in range(args.runs)]
    if args.only and args.rates:  # "500x5,1000": five runs at 500, one at 1000
        plan = [(args.only, int(rate)) for spec in args.rates.split(",")
                for rate, _, runs in [spec.partition("x")] for _ in range(int(runs or 1))]
    seconds = args.seconds or scale["seconds"]
    common.setup(args)
    info = common.machine()
    common.print_machine(info)
    provider = common.provider_new("bench-api")
    try:
        with common.inside(provider):
            requests, key = _data()
        host = f"{provider.slug}.localhost"
        rows = _serve(args, host, key, requests, plan, seconds, "", {})
        if args.compare_db:
            db_plan = [(name, rate) for name, rate in plan if name == "check"]
            rows += _serve(args, host, key, requests, db_plan, seconds, " [cache off: DB]",
                           {"TALLY_QUOTA_CACHE": "0"})
        if args.compare_hot:
            full_plan = [(name, rate) for name, rate in plan if name == "check"]
            rows += _serve(args, host, key, requests, full_plan, seconds, " [no hot path]",
                           {"TALLY_HOT_CHECK": "0"})
        _report(rows, info)
    finally:
        if not args.keep:
            common.provider_drop(provider)


def _serve(args, host: str, key: str, requests: dict, plan, seconds: float, label: str,
           env: dict) -> list:
    """Start gunicorn with `env`, warm it, run `plan`; one row per run, each with the
    machine's load average when it started."""
    server = common.Gunicorn(workers=args.workers, threads=args.threads, env=env)
    rows = []
    try:
        sample = _once(server.port, host, key, requests["check"])
        common.say(f"entitlement check answers{label}: {sample}")
        for name in requests:  # warm every worker and view
            _load(server.port, host, key, requests[name], rate=50, seconds=1)
        for name, rate in plan:
            load = common.load().split()[0]
            common.say(f"{name}{label} at {rate} req/s for {seconds:g} s (load {load})")
            cpu = server.cpu_seconds()
            result = _load(server.port, host, key, requests[name], rate, seconds)
            result["server_cpu_ms"] = (server.cpu_seconds() - cpu) / result["sent"] * 1000
            result["load"] = load
            rows.append((requests[name][1] + label, rate, result))
    finally:
        server.stop()
    return rows


def _data() -> tuple[dict, str]:
    from django.db import connection

    from accounts.api_keys import api_key_issue
    from accounts.entitlements import entitlement_accept
    from accounts.models import BillingAccount, Organization, Project
    from catalog.services.features import feature_create, service_create
    from catalog.services.offers import OfferContent, offer_create
    from cycles.services import cycles_ensure
    from invoicing.rating_run import rating_run
    from tenancy.models import Provider

    # No per-key rate limit (0, a provider's setting): the default 300 writes a minute
    # would refuse the bench's POSTs, and a high limit makes DRF's throttle read and
    # write its whole history of timestamps (one per request in the last minute) on
    # every request, which measures the throttle, not the check.
    Provider.objects.filter(schema_name=connection.schema_name).update(
        api_rate_read=0, api_rate_write=0)
    now = datetime.now(UTC)
    w = world.catalog_and_accounts(organizations=20, accounts_per_org=1, projects_per_account=5,
                                   variants=20)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    world.resources_copy(w, count=2000, events_each=10, start=month,
                         span=max(now - month - timedelta(hours=2), timedelta(hours=1)),
                         resize=False)
    cycle = cycles_ensure(now=now)
    rated = rating_run(cycle=cycle, now=now)
    common.say(f"rated this cycle: {rated.lines} lines on {rated.invoices} invoices")

    service_create(key="dns", name="DNS")
    feature_create(service_key="dns", key="dns.zones", name="Zones", kind="quota",
                   default_limit=Decimal(1000))
    offer_create(key="pro", name="Pro", now=now - timedelta(days=1),
                 content=OfferContent(services=["dns"], features=[{"feature": "dns.zones"}]))
    org = Organization.objects.order_by("name").first()
    account = BillingAccount.objects.get(organization=org)
    entitlement_accept(billing_account=account, offer_key="pro", now=now - timedelta(hours=1))
    project = Project.objects.filter(organization=org).order_by("name").first()
    key = api_key_issue(username="bench", name="bench").secret
    check = json.dumps({"project": project.name, "feature": "dns.zones", "quantity": "1"})
    return {
        "check": ("POST", "POST /api/v1/entitlements/check", "/api/v1/entitlements/check",
                  check.encode()),
        "org": ("GET", "GET /organizations/{org}/billing",
                f"/api/v1/organizations/{org.name}/billing", None),
        "project": ("GET", "GET /projects/{project}/billing",
                    f"/api/v1/projects/{project.name}/billing", None),
        "whoami": ("GET", "GET /api/v1/whoami (trivial view)", "/api/v1/whoami", None),
        "healthz": ("GET", "GET /healthz (no auth, no DB)", "/healthz", None),
    }, key


def _headers(host: str, key: str) -> dict:
    return {"Host": host, "Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def _once(port: int, host: str, key: str, request) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(request[0], request[2], body=request[3], headers=_headers(host, key))
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return f"{response.status} {text[:200]}"


def _load(port: int, host: str, key: str, request, rate: int, seconds: float) -> dict:
    method, _, path, body = request
    headers = _headers(host, key)
    total = int(rate * seconds)
    latencies: list[float] = []
    service: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.2

    def worker(offset: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for slot in range(offset, total, THREADS):
            due = t0 + slot / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = str(error)
            done = time.perf_counter()
            with lock:
                latencies.append(done - due)
                service.append(done - sent)
                if status != 200:
                    errors.append(str(status))
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    return {"sent": len(latencies), "achieved": len(latencies) / elapsed, "errors": len(errors),
            "error_sample": errors[:1],
            "p50": common.percentile(latencies, 50) * 1000,
            "p95": common.percentile(latencies, 95) * 1000,
            "p99": common.percentile(latencies, 99) * 1000,
            "max": max(latencies) * 1000 if latencies else float("nan"),
            "service_p99": common.percentile(service, 99) * 1000}


def _report(rows, info: dict) -> None:
    print()
    common.say(f"API reads, {info['nproc']} cpu, load {common.load()}")
    common.table(
        [(label, rate, f"{r['achieved']:,.0f}", f"{r['p50']:.1f}", f"{r['p95']:.1f}",
          f"{r['p99']:.1f}", f"{r['max']:.0f}", f"{r['server_cpu_ms']:.2f}", r["load"],
          f"{r['errors']}{' ' + r['error_sample'][0] if r['errors'] else ''}")
         for label, rate, r in rows],
        ("endpoint", "target req/s", "achieved", "p50 ms", "p95 ms", "p99 ms", "max ms",
         "server CPU ms/req", "load at start", "errors"),
    )
    for rate, limit in ((500, 10), (1000, 25)):
        for db in (False, True):
            p99s = [r["p99"] for label, at, r in rows if label.startswith("POST")
                    and at == rate and ("[cache off" in label) == db]
            if p99s:
                met = sum(p99 < limit for p99 in p99s)
                print(f"entitlement check{' (cache off)' if db else ''} p99 at {rate} req/s: "
                      f"{', '.join(f'{p:.1f}' for p in p99s)} ms (limit < {limit} ms): "
                      f"{met} of {len(p99s)} runs under")


if __name__ == "__main__":
    main()
