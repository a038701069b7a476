"""Celery queues per stage: each stage's task goes to its own queue, and a worker that
consumes only some stages' queues runs only those stages' tasks.

Two real workers on real Redis, on queues of this test run's own (`<run queue>.<stage>`),
so no other worker takes them."""

import sys
import time

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection
from django.test import override_settings

from billing.celery import app
from billing.settings.celery import STAGES, route_task, stage_of
from cycles.models import BillingCycle
from tests.conftest import inside
from tests.workers import Process, _child_env

pytestmark = pytest.mark.worker

# One real task per stage (ingestion has none yet: it is synchronous over HTTP; its
# queue takes the metering.tasks.* a bulk import would add).
STAGE_TASKS = {
    "rating": "invoicing.tasks.rate_open_cycles",
    "close": "invoicing.tasks.close_due_cycles",
    "pdf": "invoicing.tasks.render_pending_pdfs",
    "email": "invoicing.tasks.email_pending_invoices",
    "payments": "invoicing.tasks.collect_payments",
}
FRONT = ("ingest", "rating", "close")
BACK = ("pdf", "email", "payments")


def test_each_stage_routes_to_its_own_queue_only_when_stage_queues_are_on():
    default = settings.CELERY_TASK_DEFAULT_QUEUE
    with override_settings(CELERY_STAGE_QUEUES=True):
        routes = {name: route_task(name, (), {}, {}) for name in STAGE_TASKS.values()}
        assert routes == {name: {"queue": f"{default}.{stage}"}
                          for stage, name in STAGE_TASKS.items()}
        assert route_task("metering.tasks.usage_import", (), {}, {}) == {
            "queue": f"{default}.ingest"}
        assert route_task("notifications.tasks.outbox_deliver", (), {}, {}) == {
            "queue": f"{default}.email"}
        # Beat's fan-out and pings stay on the default queue.
        assert route_task("tenancy.jobs.fan_out", (), {}, {}) is None
        assert route_task("tenancy.jobs.provider_ping", (), {}, {}) is None
    with override_settings(CELERY_STAGE_QUEUES=False):
        assert route_task("invoicing.tasks.rate_open_cycles", (), {}, {}) is None
    assert {stage_of(name) for name in STAGE_TASKS.values()} | {"ingest"} == set(STAGES)


def _start_worker(name: str, stages: tuple[str, ...]) -> tuple[Process, str]:
    queues = ",".join(f"{settings.CELERY_TASK_DEFAULT_QUEUE}.{s}" for s in stages)
    hostname = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-{name}@localhost"
    worker = Process(
        [sys.executable, "-m", "celery", "-A", "billing", "worker", "--loglevel", "INFO",
         "--concurrency", "1", "-Q", queues, "-n", hostname, "--without-gossip",
         "--without-mingle"],
        _child_env(TALLY_CELERY_STAGE_QUEUES="1"),
        name,
    )
    return worker, hostname


def _wait_for(workers: list[tuple[Process, str]]) -> None:
    deadline = time.monotonic() + 60
    waiting = dict((hostname, worker) for worker, hostname in workers)
    while waiting and time.monotonic() < deadline:
        for hostname, worker in list(waiting.items()):
            if worker.popen.poll() is not None:
                pytest.fail(f"worker {hostname} exited at start:\n{worker.output()}")
            if app.control.ping(destination=[hostname], timeout=1.0):
                del waiting[hostname]
    if waiting:
        pytest.fail(f"workers never answered: {sorted(waiting)}")


@pytest.fixture
def stage_workers(django_db_setup, django_db_blocker):
    front = _start_worker("front", FRONT)
    back = _start_worker("back", BACK)
    try:
        _wait_for([front, back])
        yield {"front": front, "back": back}
    finally:
        front[0].stop()
        back[0].stop()
        # rate_open_cycles made this month's cycle in alpha: leave alpha as it was.
        from tenancy.models import Provider

        with django_db_blocker.unblock():
            with inside(Provider.objects.get(slug="alpha")):
                BillingCycle.objects.all().delete()
            connection.set_schema_to_public()


def test_two_workers_on_separate_queues_each_run_only_their_stages(
    stage_workers, alpha_committed, django_db_blocker
):
    queues = {
        name: [q["name"] for q in app.control.inspect([hostname], timeout=5).active_queues()[
            hostname]]
        for name, (_, hostname) in stage_workers.items()
    }
    default = settings.CELERY_TASK_DEFAULT_QUEUE
    assert sorted(queues["front"]) == sorted(f"{default}.{s}" for s in FRONT)
    assert sorted(queues["back"]) == sorted(f"{default}.{s}" for s in BACK)

    sent = {}
    with override_settings(CELERY_STAGE_QUEUES=True), django_db_blocker.unblock():
        for stage, name in STAGE_TASKS.items():
            with inside(alpha_committed):
                result = current_app.send_task(name)
            result.get(timeout=60)  # one at a time: rating makes the cycle closing reads
            sent[stage] = result.id
        connection.set_schema_to_public()

    logs = {name: worker.output() for name, (worker, _) in stage_workers.items()}
    for stage, task_id in sent.items():
        runs_on = "front" if stage in FRONT else "back"
        other = "back" if runs_on == "front" else "front"
        # Logged by the worker that took the task off its queue, before running it.
        line = f"{STAGE_TASKS[stage]}[{task_id}] received"
        assert line in logs[runs_on], f"{stage} did not run on the {runs_on} worker"
        assert task_id not in logs[other], f"{stage} ran on the {other} worker"
