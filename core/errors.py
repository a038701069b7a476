"""Errors services raise, mapped to HTTP by core/api_errors.py."""

from django.core.exceptions import ValidationError


class Conflict(ValidationError):
    """The request is well-formed but conflicts with the current state (HTTP 409):
    e.g. a change inside a finalized cycle, voiding a draft.

    `api_code` names the conflict in the error envelope; `api_extra` adds keys to it
    (the cycle a refusal is about, say).
    """

    api_code = "conflict"

    @property
    def api_extra(self) -> dict:
        return {}
