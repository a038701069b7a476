"""Celery on Redis; every tenant task runs in the schema of the provider that queued it.

Queues per stage: each stage of the billing flow (ingest, rating, close, pdf, email,
payments) has a queue of its own, named `<default queue>.<stage>`, so workers can be
placed per stage on as many machines as needed (`celery worker -Q tally.rating`). A
worker started without `-Q` consumes every queue (the dev stack's and compose's). The
test suite's workers consume one queue of the run's own, so there stage queues are
off unless a test turns them on (TALLY_CELERY_STAGE_QUEUES=1 or the setting).
"""

import os
from datetime import timedelta

from kombu import Exchange, Queue

from billing.settings.database import REDIS_URL
from core.env import env_bool, env_int, env_str

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = env_str("TALLY_CELERY_QUEUE", "tally")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
# A task is acknowledged only after it ran, so a worker killed mid-task leaves it
# to be run again; every task is written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600

STAGES = ("ingest", "rating", "close", "pdf", "email", "payments")
# Task name -> stage. Tasks not listed (beat's fan-out, pings) stay on the default queue.
STAGE_OF_TASK = {
    "cycles.tasks.cycles_ensure": "rating",
    "invoicing.tasks.rate_open_cycles": "rating",
    "invoicing.tasks.close_due_cycles": "close",
    "invoicing.tasks.invoice_deliver": "pdf",  # the pipeline starts with the PDF
    "invoicing.tasks.deliveries_queue": "pdf",  # a finalized batch fanned out
    "invoicing.tasks.render_pending_pdfs": "pdf",
    "invoicing.tasks.focus_monthly_files": "pdf",
    "invoicing.tasks.email_pending_invoices": "email",
    "notifications.tasks.outbox_deliver": "email",
    "notifications.tasks.outbox_sweep": "email",
    "notifications.tasks.webhook_deliver": "email",
    "notifications.tasks.webhook_sweep": "email",
    "budgets.tasks.budget_alerts_evaluate": "rating",
    "invoicing.tasks.collect_payments": "payments",
}
# Whole modules: ingestion tasks (bulk imports) and payments, present and future.
STAGE_OF_PREFIX = {"metering.tasks.": "ingest", "invoicing.tasks.payment": "payments"}

CELERY_STAGE_QUEUES = env_bool(
    "TALLY_CELERY_STAGE_QUEUES",
    os.environ.get("DJANGO_SETTINGS_MODULE") != "billing.settings.test",
)


def stage_of(task_name: str) -> str | None:
    stage = STAGE_OF_TASK.get(task_name)
    if stage is None:
        stage = next((s for p, s in STAGE_OF_PREFIX.items() if task_name.startswith(p)), None)
    return stage


def stage_queue(default_queue: str, stage: str) -> str:
    return f"{default_queue}.{stage}"


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router: a stage's task to its stage's queue (settings read at send time,
    so a test's own default queue and an override of CELERY_STAGE_QUEUES both apply)."""
    # Imported here: this module is itself part of the settings django.conf loads.
    from django.conf import settings

    if not getattr(settings, "CELERY_STAGE_QUEUES", False):
        return None
    stage = stage_of(name)
    if stage is None:
        return None
    return {"queue": stage_queue(settings.CELERY_TASK_DEFAULT_QUEUE, stage)}


CELERY_TASK_ROUTES = (route_task,)
if CELERY_STAGE_QUEUES:
    # What a worker started without -Q consumes: the default queue and every stage's.
    CELERY_TASK_QUEUES = [
        Queue(name, Exchange(name), routing_key=name)
        for name in [CELERY_TASK_DEFAULT_QUEUE]
        + [stage_queue(CELERY_TASK_DEFAULT_QUEUE, stage) for stage in STAGES]
    ]


def _every_provider(task: str, every_env: str, default_seconds: int) -> dict:
    """A beat entry that queues `task` in every provider's schema (tenancy.jobs.fan_out)
    every `every_env` seconds (an environment variable, default `default_seconds`)."""
    return {
        "task": "tenancy.jobs.fan_out",
        "schedule": timedelta(seconds=env_int(every_env, default_seconds)),
        "args": (task,),
    }


# Beat runs in the public schema and fans each entry out to every provider.
CELERY_BEAT_SCHEDULE = {
    "billing-cycles-ensure": _every_provider(
        "cycles.tasks.cycles_ensure", "TALLY_CYCLES_EVERY_SECONDS", 300),
    "rating-run": _every_provider(
        "invoicing.tasks.rate_open_cycles", "TALLY_RATING_EVERY_SECONDS", 300),
    "cycles-close": _every_provider(
        "invoicing.tasks.close_due_cycles", "TALLY_CLOSING_EVERY_SECONDS", 600),
    # Invoice delivery: each sweep picks work by state, so a run that finds nothing to
    # do does nothing; the task queued at finalization usually gets there first.
    "invoices-render-pdfs": _every_provider(
        "invoicing.tasks.render_pending_pdfs", "TALLY_DELIVERY_EVERY_SECONDS", 120),
    "invoices-email": _every_provider(
        "invoicing.tasks.email_pending_invoices", "TALLY_DELIVERY_EVERY_SECONDS", 120),
    # FOCUS 1.0 files of each finalized month, written once beside the PDFs.
    "focus-monthly-files": _every_provider(
        "invoicing.tasks.focus_monthly_files", "TALLY_FOCUS_EVERY_SECONDS", 3600),
    "invoices-collect-payments": _every_provider(
        "invoicing.tasks.collect_payments", "TALLY_PAYMENTS_EVERY_SECONDS", 600),
    # Retries: emails whose transient failure is due again, or whose worker died.
    "outbox-sweep": _every_provider(
        "notifications.tasks.outbox_sweep", "TALLY_OUTBOX_EVERY_SECONDS", 60),
    # Webhooks whose transient failure is due again, or whose worker died.
    "webhooks-sweep": _every_provider(
        "notifications.tasks.webhook_sweep", "TALLY_WEBHOOKS_EVERY_SECONDS", 120),
    # A sandbox clock asked to advance whose queued run was lost (or stopped with its
    # worker): picked up again. Live providers answer at once.
    "sandbox-clocks": _every_provider(
        "cycles.tasks.sandbox_clock_run", "TALLY_SANDBOX_CLOCKS_EVERY_SECONDS", 60),
}

# What a sandbox provider's clock runs at each step when it moves (cycles/clock_run.py):
# the work beat fans out, in the order above (cycles before rating before closing, then
# each finalized invoice's PDF, email and payment). Not the transport sweeps: emails and
# webhooks leave on real time (notifications/tasks.py), queued when they are written.
# Not the clock's own run, which is what runs these.
TALLY_CLOCK_STEP_TASKS = tuple(
    entry["args"][0] for entry in CELERY_BEAT_SCHEDULE.values()
    if entry["task"] == "tenancy.jobs.fan_out"
    and not entry["args"][0].startswith("notifications.")
    and entry["args"][0] != "cycles.tasks.sandbox_clock_run"
)
# Queued after commit elsewhere, but run within the clock's step while it moves: a budget
# check reads the spend as rated at its step, so it must run before the next step rates.
TALLY_CLOCK_INLINE_TASKS = ("budgets.tasks.budget_alerts_evaluate",)
