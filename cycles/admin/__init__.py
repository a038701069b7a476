"""The billing calendar's admin pages (Django imports this package to register them)."""

from cycles.admin import calendar, clock  # noqa: F401
