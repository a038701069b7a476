"""Shared API pieces that know no app: a JSON parser that reads numbers as Decimal and
holds the input gate (core/api_gate.py), pagination, decimal fields and the renderers of
media types views serve themselves."""

import codecs
import json
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer

from core.api_gate import BODY, ERR_DEPTH, value_refusals

# A view whose body is a batch names the field holding its items (`{"events": [...]}`,
# or a bare JSON array): the gate leaves those items to `core.api_gate.item_refusals`,
# so one bad item is refused alone and the rest are stored.
BATCH_FIELD = "gate_batch_field"


class DecimalJSONParser(JSONParser):
    """JSON with numbers parsed as Decimal: 0.1 arrives as Decimal("0.1"), no float;
    then the input gate: a body it refuses is a 400 naming each refused field."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            decoded = codecs.getreader(encoding)(stream)
            body = json.load(
                decoded, parse_float=Decimal, parse_constant=json_strict_constant
            )
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            # Nested far deeper than the gate allows: Python's parser gave up first.
            raise exceptions.ValidationError({BODY: [ERR_DEPTH]}) from None
        refusals = body_refusals(body, getattr(parser_context.get("view"), BATCH_FIELD, None))
        if refusals:
            raise exceptions.ValidationError(refusals)
        return body


def body_refusals(body, batch_field: str | None) -> dict[str, list[str]]:
    """The gate's refusals of a parsed body; a batch's items are left to the batch."""
    if batch_field is None:
        return value_refusals(body)
    if isinstance(body, list):
        return {}
    return value_refusals(body, skip=batch_field)


def json_strict_constant(name):
    raise ValueError(f"Out of range float values are not JSON compliant: {name!r}")


class StandardPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class StreamPagination(CursorPagination):
    """For long, growing lists (exports): stable pages while rows are added."""

    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000
    ordering = "id"


@extend_schema_field({"type": "string", "format": "decimal", "example": "0.1"})
class PlainDecimalField(serializers.Field):
    """A rate or quantity as a plain string without trailing zeros ("0.1", "669600")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return plain_decimal(value)


def plain_decimal(value) -> str:
    """A rate or quantity as a plain string without trailing zeros ("0.1", "669600")."""
    return format(Decimal(value).normalize(), "f")


def combined_view(*operations):
    """One view for operations sharing a path (GET and POST on a collection): each
    operation is its own APIView class, as the style guide has it."""
    if len(operations) == 1:
        return operations[0].as_view()
    combined = type("".join(op.__name__ for op in operations), operations, {})
    return combined.as_view()


class FileRenderer(BaseRenderer):
    """A media type a view answers with itself (a PDF, a CSV file): declared so content
    negotiation serves it when the client asks for it in `Accept`, instead of 406.

    The view returns the body as an HttpResponse; only an error envelope reaches this
    renderer, and it is written as JSON, labelled as JSON."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return JSONRenderer().render(data)


def file_renderer(media_type: str, file_format: str) -> type[FileRenderer]:
    """The renderer class of `media_type`; `file_format` is its `?format=` name."""
    name = "".join(part.title() for part in file_format.split("_")) + "FileRenderer"
    return type(name, (FileRenderer,), {"media_type": media_type, "format": file_format})
