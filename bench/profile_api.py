"""Where an API read spends its time: cProfile of the real view, in process.

    .venv/bin/python bench/profile_api.py --endpoint check|org|project|whoami [--requests 500]

The same provider as bench/api.py, requests through Django's test client (middleware,
tenant routing, API-key auth, view, renderer), the top functions printed, and the
queries of one request.
"""

import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api  # noqa: E402
import common  # noqa: E402


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--endpoint", default="check", choices=("check", "org", "project", "whoami"))
    p.add_argument("--requests", type=int, default=500)
    args = p.parse_args()
    common.setup(args)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    provider = common.provider_new("bench-profile-api")
    try:
        with common.inside(provider):
            requests, key = api._data()
        connection.set_schema_to_public()
        client = Client(HTTP_HOST=f"{provider.slug}.localhost",
                        HTTP_AUTHORIZATION=f"Bearer {key}")
        method, _, path, body = requests[args.endpoint]

        def call():
            if method == "POST":
                return client.post(path, data=body, content_type="application/json")
            return client.get(path)

        assert call().status_code == 200
        with CaptureQueriesContext(connection) as queries:
            call()
        print(f"{len(queries)} queries in one request:")
        for query in queries:
            print(f"  {query['time']}s  {query['sql'][:150]}")
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.requests):
            call()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"{args.requests} requests in {elapsed:.2f} s: "
              f"{elapsed / args.requests * 1000:.2f} ms each in one process (no profiler), "
              f"{cpu / args.requests * 1000:.2f} ms of this process's CPU")
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for _ in range(args.requests):
            call()
        profile.disable()
        elapsed = time.perf_counter() - started
        print(f"{args.requests} requests in {elapsed:.2f} s: "
              f"{elapsed / args.requests * 1000:.2f} ms each in one process (profiler on)")
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(20)
    finally:
        if not args.keep:
            common.provider_drop(provider)


if __name__ == "__main__":
    main()
