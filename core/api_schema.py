"""The OpenAPI schema, told truthfully in one place rather than in every view.

- `TallyAutoSchema` tags each operation with its area (settings.TALLY_API_TAGS: the
  first path rule that matches, else the view's app) and reads a summary and a
  description from the view's docstrings when `extend_schema` gives none. A
  docstring that only restates the route (`GET /api/v1/...`) is no summary:
  tests/billing/test_api_schema.py fails for an operation left without one.
- `error_responses_hook` lists every error status an operation can answer, each
  with the one error envelope (core/api_errors.py), and states the body limit.
"""

import re

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc
from rest_framework import serializers

from core.api_gate import MAX_JSON_DEPTH, max_body_bytes
from core.api_tags import operation_tag

ERROR_ENVELOPE = "ErrorEnvelope"
_ROUTE_ONLY = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD)\b.*/", re.IGNORECASE)
_WRITES = {"post", "put", "patch", "delete"}


def _doc_parts(doc: str) -> tuple[str | None, str]:
    """(summary, description) of a docstring: its first sentence or line, unless that
    only names the route; the description is the whole text."""
    text = (doc or "").strip()
    if not text:
        return None, ""
    lines = [line for line in text.splitlines() if line.strip()]
    first = lines[0].strip()
    if _ROUTE_ONLY.match(first):
        rest = "\n".join(lines[1:]).strip()
        return (_doc_parts(rest)[0] if rest else None), rest
    summary = first.split(". ")[0].rstrip(".:")
    return summary, text


class TallyAutoSchema(AutoSchema):
    def _handler_class(self) -> type:
        """The class that defines the handler: with one APIView per operation combined
        on a path (core.api.combined_view), that operation's own class."""
        name = getattr(self.view, "action", None) or self.method.lower()
        return next((cls for cls in type(self.view).__mro__ if name in vars(cls)),
                    type(self.view))

    def _docs(self) -> tuple[str | None, str]:
        name = getattr(self.view, "action", None) or self.method.lower()
        handler = self._handler_class()
        for doc in (get_doc(getattr(self.view, name, None)), vars(handler).get("__doc__")):
            summary, description = _doc_parts(doc)
            if summary:
                return summary, description
        return None, ""

    def get_summary(self):
        return self._docs()[0]

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """A related field over a nullable foreign key is nullable, declared so or not
        (a credit on an organization has no project: null, not a string)."""
        meta = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.RelatedField) and _model_field_nullable(field):
            meta["nullable"] = True
        return meta

    def get_description(self):
        # An operation whose summary extend_schema gives, and no text of its own,
        # is described by that summary.
        return self._docs()[1] or super().get_description() or self.get_summary() or ""

    def get_tags(self):
        tag = operation_tag(self.path, self._handler_class())
        return [tag] if tag else super().get_tags()


def _model_field_nullable(field) -> bool:
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.source or "." in field.source:
        return False
    try:
        return model._meta.get_field(field.source).null
    except FieldDoesNotExist:
        return False


# --- error responses --------------------------------------------------------------------


def _envelope_schema() -> dict:
    return {
        "type": "object",
        "description": "Every failure, in one shape (core/api_errors.py).",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer", "example": 400},
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "Each refused field (a path such as "
                                   "`events[2].occurred_at`) with its reasons.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "additionalProperties": True,
        }},
    }


def _error_statuses(method: str, operation: dict) -> dict[str, str]:
    limit = max_body_bytes()
    statuses = {
        "400": "Invalid input: each refused field named with its reasons (NUL or control "
               "characters, instants outside 1900-2200, JSON deeper than "
               f"{MAX_JSON_DEPTH} levels, numbers out of range, wrong types).",
        "404": "Not found, or outside the caller's scope.",
        "406": "The `Accept` header names no type this operation serves.",
    }
    if {} not in operation.get("security", [{}]):
        statuses["401"] = "No valid credentials (an API key or a session)."
        statuses["403"] = "The caller's role may not do this."
        statuses["429"] = ("Too many requests for this API key: retry after the "
                           "`Retry-After` header's seconds.")
    if method in _WRITES:
        statuses["409"] = "Conflicts with the current state (e.g. a finalized cycle)."
    if "requestBody" in operation:
        statuses["413"] = f"The request body is larger than {limit} bytes."
        statuses["415"] = "The body's `Content-Type` is not one this operation reads."
    return statuses


def error_responses_hook(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation lists the error statuses it
    can answer, each with the error envelope, beside what its view declared."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_ENVELOPE] = _envelope_schema()
    envelope = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_ENVELOPE}"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in _error_statuses(method, operation).items():
                response = responses.setdefault(status, {"description": description})
                if not response.get("content"):
                    response["content"] = envelope
                if status == "429":
                    response.setdefault("headers", {})["Retry-After"] = {
                        "schema": {"type": "integer"},
                        "description": "Seconds to wait before the next request."}
    result.setdefault("info", {})["x-max-body-bytes"] = max_body_bytes()
    return result
