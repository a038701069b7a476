"""Services (what a provider sells: Compute, DNS) and their features: flags and quotas."""

from decimal import Decimal

from django.db import transaction

from catalog.models import Feature, FeatureKind, FeatureScope, Service
from catalog.services.keys import key_and_name_errors, keyed_create, raise_field_errors

# Field-level reasons; tests and the API import them.
SERVICE_KEY_TAKEN = "a service with key {key!r} already exists"
SERVICE_UNKNOWN = "no service {key!r}"
FEATURE_KEY_TAKEN = "a feature with key {key!r} already exists"
FEATURE_UNKNOWN = "no feature {key!r}"
FEATURE_KIND_INVALID = "must be one of: flag, quota"
FEATURE_SCOPE_INVALID = "must be one of: billing_account, project"
QUOTA_NEEDS_LIMIT = "a quota needs a default limit (0 or more)"
FLAG_HAS_NO_LIMIT = "a flag has no limit"
LIMIT_INVALID = "must be a decimal number, 0 or more"


def service_create(*, key: str, name: str, description: str = "") -> Service:
    return keyed_create(Service, key=key, name=name, taken=SERVICE_KEY_TAKEN,
                        description=(description or "").strip())


def limit_parse(value, errors: dict, field_name: str) -> Decimal | None:
    """A quota's limit (None: no limit given), or None with the reason in `errors`."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        errors[field_name] = [LIMIT_INVALID]
        return None
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except ArithmeticError:
        errors[field_name] = [LIMIT_INVALID]
        return None
    if not number.is_finite() or number < 0:
        errors[field_name] = [LIMIT_INVALID]
        return None
    return number


def feature_create(*, service_key: str, key: str, name: str, kind: str,
                   scope: str = FeatureScope.BILLING_ACCOUNT, default_limit=None,
                   unit: str = "") -> Feature:
    """A flag or a quota of a service; a quota has a default limit (offers may change it)."""
    key, name = (key or "").strip(), (name or "").strip()
    errors = key_and_name_errors(key, name)
    if kind not in FeatureKind.values:
        errors["kind"] = [FEATURE_KIND_INVALID]
    if scope not in FeatureScope.values:
        errors["scope"] = [FEATURE_SCOPE_INVALID]
    limit = limit_parse(default_limit, errors, "default_limit")
    if kind == FeatureKind.QUOTA and limit is None and "default_limit" not in errors:
        errors["default_limit"] = [QUOTA_NEEDS_LIMIT]
    if kind == FeatureKind.FLAG and limit is not None:
        errors["default_limit"] = [FLAG_HAS_NO_LIMIT]
    with transaction.atomic():
        service = Service.objects.filter(key=service_key).first()
        if service is None:
            errors["service"] = [SERVICE_UNKNOWN.format(key=service_key)]
        if "key" not in errors and Feature.objects.filter(key=key).exists():
            errors["key"] = [FEATURE_KEY_TAKEN.format(key=key)]
        raise_field_errors(errors)
        return Feature.objects.create(service=service, key=key, name=name, kind=kind,
                                      scope=scope, default_limit=limit, unit=(unit or "").strip())
