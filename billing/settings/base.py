"""Settings every environment shares: Django core, apps, middleware, templates."""

from pathlib import Path

from core.env import env_bool, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Everything Tally writes at run time (embedded databases, invoice PDFs, collected
# static files, the local mailbox) lives under one ignored folder.
DATA_DIR = Path(env_str("TALLY_DATA_DIR", str(BASE_DIR / ".tally")))

SECRET_KEY = env_str("SECRET_KEY", "django-insecure-local-only-tally-development-key-change-me")
DEBUG = env_bool("DEBUG", False)

TALLY_BASE_DOMAIN = env_str("TALLY_BASE_DOMAIN", "localhost")
# /metrics on the platform's host answers only with this bearer token; empty: off.
TALLY_METRICS_TOKEN = env_str("TALLY_METRICS_TOKEN", "")
# Hosts that serve the public schema (platform admin); every other host must be a
# provider's domain, or it answers 404.
TALLY_PUBLIC_HOSTS = env_list(
    "TALLY_PUBLIC_HOSTS", [TALLY_BASE_DOMAIN, "localhost", "127.0.0.1"]
)
# How people reach this installation, for the URLs commands print (tenancy/site_urls.py):
# `dev.py up` serves on TALLY_PORT (default 8000); behind a proxy on 443 set
# TALLY_URL_SCHEME=https and TALLY_URL_PORT to empty.
TALLY_URL_SCHEME = env_str("TALLY_URL_SCHEME", "http")
TALLY_URL_PORT = env_str("TALLY_URL_PORT", env_str("TALLY_PORT", "8000"))
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [TALLY_BASE_DOMAIN, f".{TALLY_BASE_DOMAIN}", "127.0.0.1"]
)

ROOT_URLCONF = "billing.urls"
PUBLIC_SCHEMA_URLCONF = "billing.urls_public"
WSGI_APPLICATION = "billing.wsgi.application"

MIDDLEWARE = [
    # Picks the provider's schema from the host name; must run before anything
    # that reads the database.
    "tenancy.middleware.ProviderMiddleware",
    # Request counts and latencies for /metrics (billing/metrics.py); reads no database.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # The input gate: oversized bodies, control characters and impossible dates in the
    # path, query string and form fields are refused before anything reads them.
    "core.api_gate_middleware.InputGateMiddleware",
    # The same schema on the read replica's connection, when one is configured.
    "core.replica.ReplicaMiddleware",
    # People's pages (admin, dashboards) read times in the provider's billing zone.
    "tenancy.middleware.ProviderTimezoneMiddleware",
    # An archived provider answers reads only (tenancy/lifecycle.py).
    "tenancy.middleware.ArchivedProviderReadOnlyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): signed in with a second factor (django-otp).
    "django_otp.middleware.OTPMiddleware",
    # Names the request's user in the audit log context (after authentication).
    "audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Answers a locked-out sign-in (axes): last but the metrics' counter, which only
    # records what the response was.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Instants are stored and computed in UTC; a provider's billing time zone is used
# only to find where its calendar months begin and end.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeasyPrint reports every CSS property it skips at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

from billing.settings.api import *  # noqa: E402,F401,F403
from billing.settings.celery import *  # noqa: E402,F401,F403
from billing.settings.database import *  # noqa: E402,F401,F403
from billing.settings.email import *  # noqa: E402,F401,F403
from billing.settings.payments import *  # noqa: E402,F401,F403
from billing.settings.security import *  # noqa: E402,F401,F403
from billing.settings.tenancy import *  # noqa: E402,F401,F403

# Inside a provider, rights come from Tally's roles (accounts/policy.py), never from
# Django's superuser flag; in the public schema the model backend answers as usual.
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out sign-in before any password is checked (axes).
    "accounts.backends.LoginLockoutBackend",
    "accounts.backends.RoleBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# The audit log (audit/): an event's time is when its write ran, not when its
# transaction began, so the events of one transaction keep their order.
PGHISTORY_CREATED_AT_FUNCTION = "CLOCK_TIMESTAMP()"
