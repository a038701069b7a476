"""The test suite: real PostgreSQL and Redis, fast password hashing."""

import os

from billing.settings.base import *  # noqa: F401,F403
from core.env import env_str

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# A queue of the test run's own, so a dev stack's worker on the same Redis never
# takes the tests' tasks (the test worker is started with the same name).
CELERY_TASK_DEFAULT_QUEUE = env_str("TALLY_CELERY_QUEUE", f"tally-test-{os.getpid()}")

# Static files come straight from the apps' static/ folders (no collectstatic before a
# test run): whitenoise looks them up per request instead of scanning STATIC_ROOT once.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
