"""A real Celery worker (and beat) as subprocesses, on the test database and real Redis."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from billing.celery import app

ROOT = Path(__file__).resolve().parents[1]


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgresql://{auth}@{host}{port}/{db['NAME']}"


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="billing.settings.test",
        DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        TALLY_CELERY_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        **extra,
    )
    return env


class Process:
    def __init__(self, argv: list[str], env: dict[str, str], name: str):
        self.log = Path(tempfile.mkstemp(prefix=f"tally-{name}-", suffix=".log")[1])
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup):
    """A worker consuming this test run's queue; yields once it answers pings. It lives
    for one module only: a worker left running would pick up the tasks that other tests
    queue on purpose and leave unconsumed (PDF renders of a provider they are dropping),
    and race them. Tasks already waiting are purged first for the same reason."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    hostname = f"{queue}@localhost"
    worker = Process(
        [sys.executable, "-m", "celery", "-A", "billing", "worker", "--loglevel", "INFO",
         "--concurrency", "2", "-Q", queue, "-n", hostname, "--without-gossip",
         "--without-mingle"],
        _child_env(),
        "worker",
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.popen.poll() is not None:
            pytest.fail(f"the Celery worker exited at start:\n{worker.output()}")
        if app.control.ping(destination=[hostname], timeout=1.0):
            break
    else:
        worker.stop()
        pytest.fail(f"the Celery worker never answered:\n{worker.output()}")
    yield worker
    worker.stop()


@pytest.fixture
def celery_beat_process(django_db_setup):
    """Beat with the periodic entries due every second, so a test can watch it fan out."""
    schedule = Path(tempfile.mkdtemp()) / "celerybeat-schedule"
    beat = Process(
        [sys.executable, "-m", "celery", "-A", "billing", "beat", "--loglevel", "INFO",
         "--schedule", str(schedule)],
        _child_env(TALLY_CYCLES_EVERY_SECONDS="1"),
        "beat",
    )
    yield beat
    beat.stop()
