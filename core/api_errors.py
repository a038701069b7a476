"""One error envelope for every API failure, with field-level reasons.

    {"error": {"status": 400, "code": "invalid", "message": "...",
               "fields": {"rate": ["must be >= 0"]}}}
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Conflict


def _flatten(detail) -> list[str]:
    if isinstance(detail, list):
        out: list[str] = []
        for item in detail:
            out.extend(_flatten(item))
        return out
    if isinstance(detail, dict):
        return [f"{k}: {m}" for k, v in detail.items() for m in _flatten(v)]
    return [str(detail)]


def error_response(*, status_code: int, code: str, message: str, fields=None,
                   extra: dict | None = None) -> Response:
    body = {"status": status_code, "code": code, "message": message, **(extra or {})}
    if fields:
        body["fields"] = fields
    return Response({"error": body}, status=status_code)


def exception_handler(exc, context):
    if isinstance(exc, Conflict):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {
            "non_field_errors": exc.messages}
        return error_response(
            status_code=status.HTTP_409_CONFLICT, code=exc.api_code,
            message=next(iter(fields.values()))[0], fields=fields, extra=exc.api_extra,
        )
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"non_field_errors": exc.messages})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            fields = {k: _flatten(v) for k, v in detail.items()}
        else:
            fields = {"non_field_errors": _flatten(detail)}
        return error_response(
            status_code=status.HTTP_400_BAD_REQUEST,
            code="invalid",
            message="The request has invalid fields.",
            fields=fields,
        )
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    message = _flatten(getattr(exc, "detail", str(exc)))[0]
    out = error_response(status_code=response.status_code, code=code, message=message)
    for header in ("WWW-Authenticate", "Allow", "Retry-After"):
        if header in response:
            out[header] = response[header]
    return out
