from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"

    def ready(self):
        # Imported here, once the app registry is ready, to connect the receivers
        # (Django's idiom: a module-level import would load models too early).
        from budgets import receivers  # noqa: F401
