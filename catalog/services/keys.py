"""The key rule every catalog row shares, and how a write reports bad fields.

A key names a row in the API and in events: lowercase letters, digits, '.',
'_' and '-', starting with a letter or digit. A write collects every field's
reasons first and raises them as one ValidationError.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction

KEY_MAX_LENGTH = 100
_KEY = re.compile(r"[a-z0-9][a-z0-9._-]*")

# Field-level reasons; tests and the API import them.
KEY_REQUIRED = "a key is required"
KEY_INVALID = "use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit"
KEY_TOO_LONG = f"at most {KEY_MAX_LENGTH} characters"
NAME_REQUIRED = "a name is required"


def key_errors(key: str) -> list[str]:
    """Why `key` is not a valid key (empty list: it is)."""
    if not key:
        return [KEY_REQUIRED]
    if len(key) > KEY_MAX_LENGTH:
        return [KEY_TOO_LONG]
    if not _KEY.fullmatch(key):
        return [KEY_INVALID]
    return []


def raise_field_errors(errors: dict[str, list[str]]) -> None:
    """One ValidationError with every field's reasons; nothing when there are none."""
    if errors:
        raise ValidationError(errors)


def key_and_name_errors(key: str, name: str) -> dict[str, list[str]]:
    """The reasons of a stripped key and display name (bad key, no name)."""
    errors: dict[str, list[str]] = {}
    if reasons := key_errors(key):
        errors["key"] = reasons
    if not name:
        errors["name"] = [NAME_REQUIRED]
    return errors


def keyed_create(model, *, key: str, name: str, taken: str, **fields):
    """Create a catalog row named by a unique key and a display name, with the
    field-level reasons every such row shares (bad key, no name, key taken)."""
    key, name = (key or "").strip(), (name or "").strip()
    errors = key_and_name_errors(key, name)
    with transaction.atomic():
        if "key" not in errors and model.objects.filter(key=key).exists():
            errors["key"] = [taken.format(key=key)]
        raise_field_errors(errors)
        return model.objects.create(key=key, name=name, **fields)
