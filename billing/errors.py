"""Errors services raise, mapped to HTTP by billing/api_errors.py."""

from django.core.exceptions import ValidationError


class Conflict(ValidationError):
    """The request is well-formed but conflicts with the current state (HTTP 409):
    e.g. a change inside a finalized cycle, voiding a draft."""
