"""Outgoing email over SMTP (Django's email framework)."""

from core.env import env_bool, env_int, env_str

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 8025)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Tally <billing@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# The outbox (notifications/outbox.py): transient SMTP failures are retried with
# exponential backoff (base * 2^(n-1), capped), at most this many attempts in all.
TALLY_OUTBOX_MAX_ATTEMPTS = env_int("TALLY_OUTBOX_MAX_ATTEMPTS", 6)
TALLY_OUTBOX_BACKOFF_SECONDS = env_int("TALLY_OUTBOX_BACKOFF_SECONDS", 30)
TALLY_OUTBOX_BACKOFF_MAX_SECONDS = env_int("TALLY_OUTBOX_BACKOFF_MAX_SECONDS", 3600)
# A message claimed by a worker that died mid-send may be claimed again after this.
TALLY_OUTBOX_LEASE_SECONDS = env_int("TALLY_OUTBOX_LEASE_SECONDS", 300)
# Links in emails (one-click unsubscribe): the provider's primary host goes in {host}.
# Production: "https://{host}"; `dev.py up` serves on port 8000.
TALLY_LINK_BASE = env_str("TALLY_LINK_BASE", "http://{host}:8000")
