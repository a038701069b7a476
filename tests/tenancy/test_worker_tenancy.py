"""Tasks run through a real worker on real Redis, never in eager mode."""

import time

import pytest
from django.db import connection

from cycles.models import BillingCycle
from tenancy.jobs import TASK_WITHOUT_PROVIDER, fan_out, provider_ping
from tests.conftest import inside

pytestmark = pytest.mark.worker


@pytest.fixture
def committed(django_db_blocker):
    """Database access outside a test transaction: the worker's commits are visible,
    and what the test writes is committed for the worker to see."""
    with django_db_blocker.unblock():
        yield
        # The worker committed what it wrote: leave the providers as other tests expect.
        from tenancy.models import Provider

        for provider in Provider.objects.filter(slug__in=("alpha", "beta")):
            with inside(provider):
                BillingCycle.objects.all().delete()
        connection.set_schema_to_public()


def test_a_task_runs_in_the_schema_of_the_provider_that_queued_it(
    celery_worker_process, committed, alpha_committed, beta_committed
):
    results = []
    # Interleaved, so the worker's processes must switch schemas between tasks.
    for _ in range(5):
        for provider in (alpha_committed, beta_committed):
            with inside(provider):
                results.append((provider.slug, provider_ping.delay()))
    for slug, result in results:
        answer = result.get(timeout=30)
        assert answer == {"schema": slug, "provider": slug}


def test_a_task_queued_without_a_provider_fails_closed(celery_worker_process, committed):
    connection.set_schema_to_public()
    result = provider_ping.delay()
    with pytest.raises(Exception) as failure:
        result.get(timeout=30)
    expected = TASK_WITHOUT_PROVIDER.format(name="tenancy.jobs.provider_ping")
    assert expected in str(failure.value)
    assert result.status == "FAILURE"


def test_fan_out_queues_the_task_once_per_provider(
    celery_worker_process, committed, alpha_committed, beta_committed
):
    for provider in (alpha_committed, beta_committed):
        with inside(provider):
            BillingCycle.objects.all().delete()

    queued = fan_out.delay("cycles.tasks.cycles_ensure").get(timeout=30)

    assert queued == 2
    _wait_for_cycles(alpha_committed, beta_committed)
    with inside(alpha_committed):
        alpha_starts = [c.start for c in BillingCycle.objects.all()]
    with inside(beta_committed):
        beta_starts = [c.start for c in BillingCycle.objects.all()]
    # Alpha bills on Auckland's calendar, beta on UTC's: each ran in its own schema.
    assert all(start.hour == 0 for start in beta_starts)
    assert all(start.hour in (11, 12) for start in alpha_starts)


def test_beat_fans_periodic_work_out_to_every_provider(
    celery_worker_process, celery_beat_process, committed, alpha_committed, beta_committed
):
    for provider in (alpha_committed, beta_committed):
        with inside(provider):
            BillingCycle.objects.all().delete()
    _wait_for_cycles(alpha_committed, beta_committed, beat=celery_beat_process)


def _wait_for_cycles(*providers, beat=None, timeout=45.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = []
        for provider in providers:
            with inside(provider):
                counts.append(BillingCycle.objects.count())
        if all(count == 1 for count in counts):  # the current month, nothing ahead
            return
        time.sleep(0.5)
    detail = beat.output() if beat else ""
    pytest.fail(f"cycles never appeared in every provider: {counts}\n{detail}")
