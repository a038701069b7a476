"""Tenancy: one PostgreSQL schema per service provider (django-tenants)."""

from core.env import env_bool, env_int, env_str

# The public schema holds only the provider registry and the platform's own admin.
SHARED_APPS = [
    "django_tenants",
    "tenancy",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The admin's theme (billing/admin_site.py): its templates win over Django's admin's,
    # so it comes first. It has no models.
    "unfold.apps.BasicAppConfig",
    "billing.admin_apps.TallyAdminConfig",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # One Stripe account per provider, kept by dj-stripe in the public schema (its
    # models carry their owner account): migrated once per installation, not per
    # provider (its migrations cost about a minute of CPU per schema).
    "djstripe",
    # Failed sign-ins counted and locked out (billing/settings/security.py), on the
    # platform's host here and on each provider's in its schema.
    "axes",
]

# Everything a provider owns lives in its own schema.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "billing.admin_apps.TallyAdminConfig",
    # The audit log (audit/): pghistory keeps its contexts and pgtrigger installs the
    # audit triggers in each provider's schema, beside the tables they watch.
    "pgtrigger",
    "pghistory",
    "audit",
    "cycles",
    "catalog",
    "accounts",
    "metering",
    "notifications",
    "invoicing",
    "budgets",
    "dashboards",
    "axes",
    # Fleet admins' TOTP second factor (accounts/two_factor.py).
    "django_otp",
    "django_otp.plugins.otp_totp",
]

# `billing` is the project itself: no models, only its management commands (the demo).
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS] + [
    "billing"]

TENANT_MODEL = "tenancy.Provider"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
# The migrate command run in each schema: in a provider's schema it leaves out the
# public-only apps' migrations (tenancy/migrate_command.py).
TENANT_BASE_MIGRATE_COMMAND = "tenancy.migrate_command.Command"

# How long each web process trusts the host -> provider lookup it made (see
# tenancy/middleware.py); 0 looks the provider up on every request.
TALLY_PROVIDER_CACHE_SECONDS = env_int("TALLY_PROVIDER_CACHE_SECONDS", 10)

# The entitlement check's cache (accounts/quota_cache.py): what a check reads, kept in
# each process and versioned in Redis, and quota counters in Redis. Off: every check
# reads PostgreSQL (bench/api.py --compare-db measures both). TALLY_QUOTA_REDIS_URL:
# another Redis than REDIS_URL's for it (empty: REDIS_URL).
TALLY_QUOTA_CACHE = env_bool("TALLY_QUOTA_CACHE", True)
TALLY_QUOTA_REDIS_URL = env_str("TALLY_QUOTA_REDIS_URL", "")
# The check's hot path in front of Django (billing/hot_check.py); off: every check goes
# through the middleware and DRF (bench/api.py --compare-hot measures both).
TALLY_HOT_CHECK = env_bool("TALLY_HOT_CHECK", True)
