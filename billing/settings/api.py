"""The REST API: API-key and session auth, one error envelope, OpenAPI schema."""

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Signed in, and the role table (accounts/policy.py) reaches the operation.
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.PolicyTablePermission"],
    "DEFAULT_SCHEMA_CLASS": "core.api_schema.TallyAutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Per API key, per the provider's numbers (accounts/throttling.py): 429 beyond.
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.ApiKeyRateThrottle"],
    # JSON through the input gate (core/api_gate.py), numbers as Decimal.
    "DEFAULT_PARSER_CLASSES": [
        "core.api.DecimalJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}

# The largest request body (JSON, form fields or uploads): 413 in the error envelope
# beyond it (core.api_gate_middleware), stated in the schema. A full batch of 5,000
# events with attributes fits.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

SPECTACULAR_SETTINGS = {
    "TITLE": "Tally API",
    "DESCRIPTION": "Billing and chargeback for cloud providers.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Choice sets shared by several fields, or fields of one name with different sets.
    "ENUM_NAME_OVERRIDES": {
        "ApiKeyScopeEnum": "accounts.models.ApiKeyScope",
        "AccountRoleEnum": "accounts.models.Role",
        "FeatureScopeEnum": "catalog.models.FeatureScope",
        "FeatureKindEnum": "catalog.models.FeatureKind",
        "LineKindEnum": "invoicing.models.LineKind",
        "ServiceClassEnum": "catalog.models.ServiceClass",
        "TimeUnitEnum": "catalog.models.TimeUnit",
    },
    # The API documents JSON bodies (and JSON flavours such as CloudEvents): the form
    # parsers DRF also accepts are for browsers, and a body offered in several
    # unrelated types breaks generated clients.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    # Every error status each operation can answer, with the error envelope.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api_schema.error_responses_hook",
    ],
    "TAGS": [
        {"name": "Catalog", "description": "What can be consumed: offers, services, metrics."},
        {"name": "Prices", "description": "List prices, their schedule and history."},
        {"name": "Usage", "description": "Lifecycle and usage events in; what was consumed."},
        {"name": "Invoices", "description": "Spend, invoices, their lines, PDFs and payment."},
        {"name": "Credits", "description": "Credits and credit notes."},
        {"name": "Budgets", "description": "Budgets, their alerts and notifications."},
        {"name": "Accounts", "description": "Organizations, projects, billing accounts, "
                                            "roles, entitlements and quota."},
        {"name": "Exports", "description": "Billing data for other tools (CSV, FOCUS)."},
        {"name": "Admin", "description": "The operator's tools: cycles, clocks, webhooks."},
    ],
}

# Each operation's tag (core.api_schema.TallyAutoSchema): the first path rule that
# matches, else the tag of the view's app. A new endpoint gets its app's area unless
# a rule says better.
TALLY_API_TAGS = [
    (r"^/api/v1/system/billing", "Prices"),
    (r"^/api/v1/(prices|price-lists)", "Prices"),
    (r"^/api/v1/(billing/items\.csv|exports)", "Exports"),
    (r"/(credits|credit-notes)(/|$)", "Credits"),
    (r"/budgets(/|$)|^/api/v1/notification-preferences", "Budgets"),
    (r"^/api/v1/(resources|usage|otlp)(/|$)", "Usage"),
    (r"/(entitlements|quotas|unused-quota)(/|$)", "Accounts"),
    (r"/(upcoming-invoice|payment-method|billing)(/|$)|^/api/v1/invoices(/|$)", "Invoices"),
    (r"^/api/v1/(offers|catalog|services|metrics)(/|$)", "Catalog"),
    (r"^/api/v1/(cycles|test-clock|webhooks|webhook-endpoints|stripe)(/|$)", "Admin"),
]
TALLY_API_APP_TAGS = {
    "catalog": "Catalog", "metering": "Usage", "invoicing": "Invoices",
    "budgets": "Budgets", "accounts": "Accounts", "notifications": "Admin",
    "cycles": "Admin", "billing": "Admin", "tenancy": "Admin", "audit": "Admin",
}
# Swagger UI's files come from the sidecar package: the docs work with no internet.
SPECTACULAR_SETTINGS.update(
    {
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }
)
