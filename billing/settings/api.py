"""The REST API: API-key and session auth, one error envelope, OpenAPI schema."""

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

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
}
# Swagger UI's files come from the sidecar package: the docs work with no internet.
SPECTACULAR_SETTINGS.update(
    {
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }
)
