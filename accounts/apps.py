from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        # Imported once the app registry is ready (Django's idiom): registers the
        # OpenAPI description of API-key authentication with drf-spectacular.
        from accounts import schema  # noqa: F401
        from accounts.quota_signals import connect

        connect()
