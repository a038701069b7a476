"""The gate's door for what reaches Django before any view: the body's size, the path,
the query string and form fields (core/api_gate.py says what is refused and why).

The API's answers are the error envelope; pages get a plain 400 or 413."""

from urllib.parse import unquote_to_bytes

from django.http import HttpResponse, JsonResponse

from core.api_gate import (
    BODY,
    CONTROL,
    ERR_BODY_TOO_LARGE,
    ERR_CONTROL,
    max_body_bytes,
    printable,
    text_refusal,
)

API_PREFIX = "/api/"
PATH = "path"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def refusal_response(request, *, status: int, code: str, message: str,
                     fields: dict[str, list[str]]):
    """The error envelope for the API (core/api_errors.py's shape), text for pages."""
    if request.path.startswith(API_PREFIX):
        body = {"error": {"status": status, "code": code, "message": message,
                          "fields": fields}}
        return JsonResponse(body, status=status)
    lines = [message] + [f"{name}: {' '.join(reasons)}" for name, reasons in fields.items()]
    return HttpResponse("\n".join(lines), status=status, content_type="text/plain")


def _content_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _path_refusals(request) -> dict[str, list[str]]:
    # The path arrives percent-decoded (/resources/a%00b holds a NUL); one still
    # encoded (a%2500b, decoded once by a proxy) is refused as well.
    decoded = unquote_to_bytes(request.path_info).decode("utf-8", "replace")
    return {PATH: [ERR_CONTROL]} if CONTROL.search(decoded) else {}


def _multi_pairs(querydict) -> list[tuple[str, str]]:
    return [(name, value) for name, values in querydict.lists() for value in values]


def _pairs_refusals(pairs) -> dict[str, list[str]]:
    refusals: dict[str, list[str]] = {}
    for name, value in pairs:
        reason = text_refusal(name) or (text_refusal(value) if isinstance(value, str) else None)
        if reason:
            refusals.setdefault(printable(name), []).append(reason)
    return refusals


def _form_pairs(request):
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if request.method not in ("POST", "PUT", "PATCH") or content_type not in FORM_TYPES:
        return []
    return _multi_pairs(request.POST)


class InputGateMiddleware:
    """Refuses, before any view runs: bodies over the limit (413), and control
    characters or out-of-range dates in the path, the query string or form fields
    (400, naming the parameter)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        size, limit = _content_length(request), max_body_bytes()
        if size > limit:
            return refusal_response(
                request, status=413, code="body_too_large",
                message=ERR_BODY_TOO_LARGE.format(size=size, limit=limit),
                fields={BODY: [ERR_BODY_TOO_LARGE.format(size=size, limit=limit)]})
        refusals = _path_refusals(request)
        refusals.update(_pairs_refusals(_multi_pairs(request.GET)))
        if not refusals:
            refusals.update(_pairs_refusals(_form_pairs(request)))
        if refusals:
            return refusal_response(request, status=400, code="invalid",
                                    message="The request has invalid fields.",
                                    fields=refusals)
        return self.get_response(request)
