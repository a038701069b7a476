""""Now" for the provider being served: the one source of the current instant.

Services never read the wall clock themselves; the edges (views, tasks, commands)
ask `clock_now()` and pass the instant down.
"""

from datetime import datetime

from django.utils import timezone


def clock_now() -> datetime:
    """The provider's current instant, timezone-aware UTC."""
    return timezone.now()
