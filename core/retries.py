"""How long a failed delivery waits before its next attempt (emails, webhooks, payments)."""


def backoff_seconds(*, attempts: int, base: int, cap: int | None = None) -> int:
    """Seconds to wait after the `attempts`-th failed attempt: base * 2^(attempts-1),
    at most `cap` when given. Whole seconds: settings give them as integers."""
    delay = base * (2 ** max(attempts - 1, 0))
    return delay if cap is None else min(delay, cap)
