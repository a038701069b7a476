"""Where an ingestion batch spends its time: cProfile of the real view, in process.

    .venv/bin/python bench/profile_ingest.py [--batches 40] [--no-profile]

Posts 1,000-event usage batches through Django's test client (the whole request
path: middleware, tenant routing, API-key auth, parser, service, renderer) under
cProfile and prints the top functions by cumulative and by own time. With
--no-profile, the same batches without the profiler: the in-process rate alone (the
profiler inflates Python-heavy code, not the waits on the database).
"""

import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import ingest  # noqa: E402


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--path", default="/api/v1/usage/events")
    p.add_argument("--no-profile", action="store_true", help="time only, no cProfile")
    args = p.parse_args()
    common.setup(args)
    from django.test import Client

    provider = common.provider_new("bench-profile")
    try:
        key = ingest._catalog(provider)
        client = Client(HTTP_HOST=f"{provider.slug}.localhost",
                        HTTP_AUTHORIZATION=f"Bearer {key}")
        template = ingest._template("p")
        client.post(args.path, data=template.replace(b"@@", b"warm"),
                    content_type="application/json")
        profile = cProfile.Profile()
        started = time.perf_counter()
        if not args.no_profile:
            profile.enable()
        for n in range(args.batches):
            answer = client.post(args.path, data=template.replace(b"@@", str(n).encode()),
                                 content_type="application/json")
            assert answer.status_code == 200, answer.content[:300]
        profile.disable()
        elapsed = time.perf_counter() - started
        print(f"{args.batches} batches in {elapsed:.2f} s: "
              f"{args.batches * ingest.BATCH / elapsed:,.0f} events/s in one process "
              f"({'profiler off' if args.no_profile else 'profiler on'}, "
              f"load {common.load()})")
        if args.no_profile:
            return
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)
    finally:
        if not args.keep:
            common.provider_drop(provider)


if __name__ == "__main__":
    main()
