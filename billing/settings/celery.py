"""Celery on Redis; every tenant task runs in the schema of the provider that queued it."""

from billing.env import env_int, env_str
from billing.settings.database import REDIS_URL

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

# Beat runs in the public schema and fans each entry out to every provider.
CELERY_BEAT_SCHEDULE = {
    "billing-cycles-ensure": {
        "task": "billing.jobs.fan_out",
        "schedule": float(env_int("TALLY_CYCLES_EVERY_SECONDS", 300)),
        "args": ("invoicing.tasks.cycles_ensure",),
    },
    "rating-run": {
        "task": "billing.jobs.fan_out",
        "schedule": float(env_int("TALLY_RATING_EVERY_SECONDS", 300)),
        "args": ("invoicing.tasks.rate_open_cycles",),
    },
    "cycles-close": {
        "task": "billing.jobs.fan_out",
        "schedule": float(env_int("TALLY_CLOSING_EVERY_SECONDS", 600)),
        "args": ("invoicing.tasks.close_due_cycles",),
    },
    # Invoice delivery (issue 5): each sweep picks work by state, so a run that finds
    # nothing to do does nothing; the task queued at finalization usually gets there first.
    "invoices-render-pdfs": {
        "task": "billing.jobs.fan_out",
        "schedule": float(env_int("TALLY_DELIVERY_EVERY_SECONDS", 120)),
        "args": ("invoicing.tasks.render_pending_pdfs",),
    },
    "invoices-email": {
        "task": "billing.jobs.fan_out",
        "schedule": float(env_int("TALLY_DELIVERY_EVERY_SECONDS", 120)),
        "args": ("invoicing.tasks.email_pending_invoices",),
    },
    "invoices-collect-payments": {
        "task": "billing.jobs.fan_out",
        "schedule": float(env_int("TALLY_PAYMENTS_EVERY_SECONDS", 600)),
        "args": ("invoicing.tasks.collect_payments",),
    },
    # Retries: emails whose transient failure is due again, or whose worker died.
    "outbox-sweep": {
        "task": "billing.jobs.fan_out",
        "schedule": float(env_int("TALLY_OUTBOX_EVERY_SECONDS", 60)),
        "args": ("invoicing.tasks.outbox_sweep",),
    },
    # Budget webhooks whose transient failure is due again, or whose worker died.
    "budget-webhooks-sweep": {
        "task": "billing.jobs.fan_out",
        "schedule": float(env_int("TALLY_WEBHOOKS_EVERY_SECONDS", 120)),
        "args": ("budgets.tasks.webhook_sweep",),
    },
}
