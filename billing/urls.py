"""URLs on a provider's host (<slug>.<base domain>), served from its schema."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.two_factor import TwoFactorLoginForm, two_factor_page
from billing.views import health

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(authentication_form=TwoFactorLoginForm),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("account/two-factor/", two_factor_page, name="two-factor"),
    path("healthz", health, name="health"),
    path("api/v1/", include("billing.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # The dashboards, "/" (named "home") included: the page a signed-in user lands on.
    path("", include("dashboards.urls")),
]

handler404 = "billing.views.not_found"
handler500 = "billing.views.server_error"
