"""URLs on the platform's own host (public schema)."""

from django.urls import path

from billing import platform_admin  # noqa: F401 - adds the "Add provider" form
from billing.metrics import metrics
from billing.views import health
from tenancy.admin import platform_admin_site

urlpatterns = [
    path("admin/", platform_admin_site.urls),
    path("healthz", health, name="health"),
    # Prometheus, for operators of the installation: every provider's figures, by token.
    path("metrics", metrics, name="metrics"),
]

handler404 = "billing.views.not_found"
handler500 = "billing.views.server_error"
