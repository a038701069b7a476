"""Everything under /api/v1/: each app contributes its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("cycles.urls")),
    path("", include("accounts.urls")),
    path("", include("catalog.urls")),
    path("", include("metering.urls")),
    path("", include("invoicing.urls")),
    path("", include("notifications.urls")),
    path("", include("budgets.urls")),
    path("", include("cycles.urls")),
]
