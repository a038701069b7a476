"""What an API key's scope lets it reach: checked once per request, for every view.

A view declares the scopes that reach it beyond the defaults with
`api_key_scopes = ("ingest", ...)` (metering's two ingestion endpoints do). The rule:

- `admin`: every endpoint; the user's roles still decide (403 or 404 as usual).
- `read`: safe methods (GET, HEAD, OPTIONS) of every endpoint, and the POSTs a view
  marks as reads with `api_key_read_methods = ("POST",)` (a feature check).
- `ingest`: only the views that name `ingest` in `api_key_scopes`; 403 elsewhere.

Checked in `ApiKeyAuthentication`, the one place every key passes, so a view that sets
its own `permission_classes` cannot forget it.
"""

from rest_framework import exceptions

from accounts.models import ApiKeyScope

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The envelope's 403 reason; tests import it.
SCOPE_REFUSED = "This API key's scope ({scope}) does not allow {method} {path}."


def scope_allows(scope: str, *, view, method: str) -> bool:
    """May a key of `scope` call `method` on `view`?"""
    if scope == ApiKeyScope.ADMIN:
        return True
    if scope == ApiKeyScope.INGEST:
        return ApiKeyScope.INGEST in getattr(view, "api_key_scopes", ())
    if scope == ApiKeyScope.READ:
        return method in SAFE_METHODS or method in getattr(view, "api_key_read_methods", ())
    return False


def scope_check(api_key, request) -> None:
    """403 with the reason when the key's scope does not reach this request's view."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if not scope_allows(api_key.scope, view=view, method=request.method):
        raise exceptions.PermissionDenied(SCOPE_REFUSED.format(
            scope=api_key.scope, method=request.method, path=request.path))
