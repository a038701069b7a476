"""Views of the project itself (not of one app)."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found
from django.views.defaults import server_error as default_server_error


@require_GET
def health(request):
    """Liveness and the schema this host is served from (checked by ops and tests)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "schema": connection.schema_name})


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"status": status, "code": code, "message": message}},
                        status=status)


def not_found(request, exception=None):
    """404 for URLs no route matches: the API's envelope under /api/, a page elsewhere."""
    if request.path.startswith("/api/"):
        return _api_error(404, "not_found", f"No API endpoint at {request.path}.")
    return page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return _api_error(500, "server_error", "Something went wrong on our side; it is logged.")
    return default_server_error(request)
