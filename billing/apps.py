from django.apps import AppConfig


class BillingConfig(AppConfig):
    """The project itself: no models, its management commands (the demo)."""

    name = "billing"
