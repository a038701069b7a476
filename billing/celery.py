"""The Celery app. Tasks queued inside a provider's schema carry that schema in
their headers (tenant-schemas-celery) and run in it on the worker."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings.local")

app = CeleryApp("tally")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
