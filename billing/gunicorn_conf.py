"""gunicorn's settings for Tally's web tier: the Dockerfile, dev.py and bench/ use them.

    gunicorn billing.wsgi -c billing/gunicorn_conf.py --bind 0.0.0.0:8000

Sync workers, one per core (WEB_CONCURRENCY overrides). On the 2-core benchmark
machine they answered the entitlement check with 1.5 ms of CPU a request, against
2.7 ms for 2 workers x 4 threads, and ingested 10-25% more events a second
(bench/RESULTS.md §1 and §5): with short requests and a local database, a thread
pool's hand-offs and GIL contention cost more than the overlap gains. A third
worker on 2 cores only added context switches (p99 worse).

A sync worker reads a whole request before handling it, but is held while a slow
client reads the answer: in production, put a buffering proxy (nginx) in front,
as gunicorn's documentation advises.
"""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "sync"
timeout = 120
