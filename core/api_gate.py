"""The one gate for bad input: classes of input refused before any app reads them.

Every JSON body (the API's parsers, core/api.py), every form field, query parameter
and path (`InputGateMiddleware`) passes through `value_refusals`, which refuses:

- text holding NUL or another control character (tab, newline and carriage return
  are text);
- instants (and dates) outside 1900-01-01 .. 2200-12-31 once their offset is applied:
  Python cannot even convert 0001-01-01T00:00+01:00 to UTC, and no bill is dated
  outside those years;
- JSON nested deeper than `MAX_JSON_DEPTH` levels;
- numbers no field can hold (integers beyond 64 bits, decimals beyond 20 integer
  digits or 40 significant ones); a field's own range is its serializer's
  `min_value`/`max_value`, published in the schema.

Each refusal names its field (`events[2].attributes.zone`) and travels in the error
envelope (400). A batch's items are gated one by one (`item_refusals`), so one bad item
is refused with its reason and the rest are stored. Bodies larger than
`max_body_bytes()` are refused whole with 413 before they are read.
"""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

from django.conf import settings

MAX_JSON_DEPTH = 32
MIN_YEAR, MAX_YEAR = 1900, 2200
# A decimal's integer digits and significant digits: the widest column (quantities,
# 30 digits with 10 places) holds 20 integer digits.
MAX_INTEGER_DIGITS, MAX_SIGNIFICANT_DIGITS = 20, 40
INT64_MAX = 2**63 - 1

ERR_CONTROL = "must not contain NUL or other control characters"
ERR_INSTANT = (
    f"must be an instant from {MIN_YEAR}-01-01T00:00:00Z to {MAX_YEAR}-12-31T23:59:59Z "
    "(in UTC, after its offset is applied)"
)
ERR_DEPTH = f"nests deeper than {MAX_JSON_DEPTH} levels of JSON"
ERR_NUMBER = "is a number outside the range any field accepts"
ERR_BODY_TOO_LARGE = "the request body is {size} bytes; at most {limit} bytes are accepted"
BODY = "body"

# C0 and C1 control characters and DEL, except tab, newline and carriage return.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Something written as a date or a date-time (ISO 8601, perhaps with a long year).
_DATE_LIKE = re.compile(r"^\s*[+-]?([0-9]{4,})-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}.*)?\s*$")


def max_body_bytes() -> int:
    """The largest request body accepted (settings.DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def text_refusal(text: str) -> str | None:
    """Why `text` is refused, or None: control characters, or a date out of range."""
    if CONTROL.search(text):
        return ERR_CONTROL
    if _DATE_LIKE.match(text):
        return instant_text_refusal(text)
    return None


def instant_text_refusal(text: str) -> str | None:
    """ERR_INSTANT for a date or date-time outside the years Tally bills; None for one
    inside them or for text that does not parse (its field says what it expects)."""
    match = _DATE_LIKE.match(text)
    if match and len(match.group(1)) > 4:
        return ERR_INSTANT
    stripped = text.strip()
    try:
        parsed = datetime.fromisoformat(stripped.replace("z", "Z"))
    except ValueError:
        return None
    return instant_refusal(parsed)


def instant_refusal(value: datetime | date) -> str | None:
    """ERR_INSTANT when `value` (aware: in UTC) lies outside MIN_YEAR..MAX_YEAR."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            return ERR_INSTANT
    return None if MIN_YEAR <= value.year <= MAX_YEAR else ERR_INSTANT


def number_refusal(number) -> str | None:
    if isinstance(number, bool):
        return None
    if isinstance(number, int):
        return ERR_NUMBER if abs(number) > INT64_MAX else None
    if isinstance(number, Decimal):
        if not number.is_finite():
            return ERR_NUMBER
        digits = len(number.as_tuple().digits)
        if number.adjusted() >= MAX_INTEGER_DIGITS or digits > MAX_SIGNIFICANT_DIGITS:
            return ERR_NUMBER
    return None


def value_refusals(value, path: str = "", *, depth: int = 0,
                   skip: str | None = None) -> dict[str, list[str]]:
    """{field path: [reason]} for every refused piece of a parsed JSON value (keys
    too), or {} when it passes. `skip` names a top-level field whose value is not
    walked (a batch's items, gated one by one). Iterative, so no depth breaks it."""
    refusals: dict[str, list[str]] = {}
    stack = [(value, path, depth)]
    while stack:
        current, where, level = stack.pop()
        if level > MAX_JSON_DEPTH:
            refusals.setdefault(where or BODY, []).append(ERR_DEPTH)
            continue
        if isinstance(current, dict):
            for key, child in current.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and CONTROL.search(key):
                    refusals.setdefault(_printable(child_path), []).append(ERR_CONTROL)
                    continue
                if skip is not None and not where and key == skip:
                    continue
                stack.append((child, child_path, level + 1))
        elif isinstance(current, list):
            stack.extend((child, f"{where}[{i}]", level + 1) for i, child in enumerate(current))
        elif isinstance(current, str):
            reason = text_refusal(current)
            if reason:
                refusals.setdefault(where or BODY, []).append(reason)
        else:
            reason = number_refusal(current)
            if reason:
                refusals.setdefault(where or BODY, []).append(reason)
    return dict(sorted(refusals.items()))


def item_refusals(item) -> dict[str, list[str]]:
    """A batch item's refusals, its fields named as within the item (`attributes.x`).
    A batch item sits two levels down its body (`{"events": [item]}`)."""
    return value_refusals(item, depth=2)


def _printable(path: str) -> str:
    """A field path fit to show: control characters written as escapes."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", path)


def printable(text: str) -> str:
    return _printable(text)
