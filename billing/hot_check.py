"""The entitlement check's hot path: `POST /api/v1/entitlements/check` answered in
front of Django's middleware and DRF, which cost about four fifths of the check's CPU
(issue 20: p99 < 10 ms at 500 checks a second on 2 cores).

It answers only a check it is sure of, and only with the 200 the full path would give,
by the same functions: the provider this process already found for the host
(tenancy/middleware.py), ApiKeyAuthentication (expiry, revocation, the user's
activity, the key's scope), the policy's permission, the provider's per-key rate
limit (DRF's throttle, counted in the same cache), the parser with the input gate's
body rules, and the cached check (accounts/quota_cache.py). Every other request goes
through Django as before, with its body: a refusal of any kind (401, 403, 404, 400,
409 archived, 413, 429), a signed-in browser (a cookie), another content type or
`Accept`, a query string, an unknown or untrusted host, a check the cache cannot
answer, or anything that would query PostgreSQL (a cache miss, Redis down, a key's
last use to record): `_NeedsDjango` stops it before the query runs.

The answer carries the same headers (SecurityMiddleware's and the frame option run on
it). Not done here: django-prometheus's request counters (a hot check is not counted
in /metrics' Django totals) and the audit context (a check writes nothing).
"""

import io
import logging

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import connection
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.cache import patch_vary_headers
from django_tenants.utils import remove_www
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer

from accounts.authentication import ApiKeyAuthentication
from accounts.consumer_apis import EntitlementCheckApi, quota_input_fast, quota_payload
from accounts.permissions import PolicyTablePermission, request_access
from accounts.quota import quota_check_named
from accounts.throttling import ApiKeyRateThrottle
from core.api import DecimalJSONParser
from core.api_gate import max_body_bytes
from cycles.clock import clock_now
from tenancy.middleware import provider_cached

CHECK_PATH = "/api/v1/entitlements/check"
JSON = "application/json"
ACCEPTED = ("", "*/*", JSON)
logger = logging.getLogger(__name__)


class _NeedsDjango(Exception):  # noqa: N818 - a signal to fall through, not an error
    """The full path must answer (the hot path would have queried PostgreSQL)."""


def _refuse_queries(*_args):
    raise _NeedsDjango


class _Call:
    """What the API's doors read of a request (DRF's Request, without its machinery)."""

    def __init__(self, request: WSGIRequest, view):
        self._request = request
        self.META = request.META
        self.headers = request.headers
        self.method = request.method
        self.path = request.path
        self.parser_context = {"view": view, "encoding": "utf-8"}
        self.user = None
        self.auth = None


def _body(environ) -> bytes | None:
    """The request's body, when it is one the hot path may read whole."""
    if (environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING")
            or environ.get("CONTENT_TYPE") != JSON or environ.get("HTTP_COOKIE")
            or environ.get("HTTP_ACCEPT", "") not in ACCEPTED
            or not environ.get("HTTP_AUTHORIZATION")):
        return None
    try:
        size = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < size <= max_body_bytes():
        return None
    body = environ["wsgi.input"].read(size)
    environ["wsgi.input"] = io.BytesIO(body)  # Django reads it again if it answers
    return body if len(body) == size else None


def _answer(request: WSGIRequest, body: bytes) -> HttpResponse | None:
    try:
        hostname = remove_www(request.get_host().split(":")[0])
    except DisallowedHost:
        return None
    tenant = provider_cached(hostname)
    if tenant is None or tenant.archived_at is not None:
        return None
    tenant.domain_url = hostname
    connection.set_schema_to_public()
    connection.set_tenant(tenant)
    view = EntitlementCheckApi()
    call = _Call(request, view)
    found = ApiKeyAuthentication().authenticate(call)
    if found is None:
        return None
    call.user, call.auth = found
    if not PolicyTablePermission().has_permission(call, view):
        return None
    data = DecimalJSONParser().parse(io.BytesIO(body), JSON, call.parser_context)
    values = quota_input_fast(data)
    if values is None:
        return None
    answer = quota_check_named(
        project_name=values["project"], feature_key=values["feature"],
        quantity=values.get("quantity"), now=clock_now(),
        visible=request_access(call).can_view_project)
    if answer is None:
        return None
    response = _response(request, JSONRenderer().render(quota_payload(answer)))
    # DRF counts a request in the throttle before the view; here, last, so that a check
    # handed to Django (an HTTPS redirect included) is never counted twice.
    if response is None or not ApiKeyRateThrottle().allow_request(call, view):
        return None
    return response


def _response(request: WSGIRequest, content: bytes) -> HttpResponse | None:
    """The headers the full path puts on the check's answer."""
    response = HttpResponse(content, content_type=JSON)
    response["Allow"] = "POST, OPTIONS"
    response["Content-Length"] = str(len(content))  # CommonMiddleware's
    patch_vary_headers(response, ("Cookie",))
    ours = response
    response = XFrameOptionsMiddleware(lambda _request: ours)(request)
    response = SecurityMiddleware(lambda _request: response)(request)
    return response if response is ours else None


class HotCheckApplication:
    """WSGI: the hot path for the check, Django for everything else."""

    def __init__(self, django_application):
        self.django_application = django_application

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == CHECK_PATH and settings.TALLY_HOT_CHECK:
            response = self._try(environ)
            if response is not None:
                start_response(f"{response.status_code} {response.reason_phrase}",
                               list(response.items()))
                # Not the response itself: closing it would send request_finished, whose
                # request_started Django never sent.
                return [response.content]
        return self.django_application(environ, start_response)

    def _try(self, environ) -> HttpResponse | None:
        body = _body(environ)
        if body is None:
            return None
        try:
            with connection.execute_wrapper(_refuse_queries):
                return _answer(WSGIRequest(environ), body)
        except (_NeedsDjango, APIException):
            return None
        except Exception:  # Django answers it, and reports the error itself if it recurs
            logger.exception("the check's hot path failed; Django answers")
            return None
