"""Reading configuration from the environment.

Every setting that differs between machines comes from an environment variable;
these helpers give each a typed value and a clear error when it is malformed.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_mandatory_secret(name: str, *, min_length: int = 50) -> str:
    """A secret with no default: production refuses to start without a real one."""
    value = os.environ.get(name, "")
    if len(value) < min_length or value.startswith("django-insecure") or len(set(value)) < 5:
        raise ImproperlyConfigured(
            f"{name} must be set to a random secret of at least {min_length} characters in "
            f"production. Generate one with: python -c 'import secrets; "
            f"print(secrets.token_urlsafe(64))'"
        )
    return value
