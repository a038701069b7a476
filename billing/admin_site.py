"""The provider's admin: who may enter is Tally's role policy (accounts/policy.py).

Django's stock admin lets in `is_staff` users and trusts `is_superuser`; a provider's
admin lets in fleet admins and fleet viewers, and every model permission comes from
their role (accounts.backends.RoleBackend). The platform admin of the public host is
`tenancy.admin.platform_admin_site`, for the platform's superusers.

It wears django-unfold's theme (core/admin_theme.py), names the provider with its logo,
groups the menu by the operator's job (billing/admin_menu.py), and never lists the
bookkeeping models of libraries (dj-stripe, Celery, pghistory).
"""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django_otp import user_has_device
from unfold.forms import AuthenticationForm as ThemedAuthenticationForm
from unfold.sites import UnfoldAdminSite

from accounts.backends import user_access
from accounts.policy import admin_site_allowed
from accounts.two_factor import otp_refusal
from billing.admin_menu import app_list_grouped, menu_hidden, navigation_from_app_list
from core.admin_confirm import ConfirmedActionsMixin
from core.admin_theme import themed_admin_class
from core.timefmt import datetime_text
from cycles.clock import sandbox_clock_get
from tenancy.selectors import provider_current


def may_enter(user) -> bool:
    return bool(user.is_active and user.is_authenticated
                and admin_site_allowed(user_access(user)))


def verified_enough(user) -> bool:
    """A user who turned on two-factor sign-in enters only with a verified session."""
    return not user_has_device(user, confirmed=True) or user.is_verified()


class RoleAdminLoginForm(ThemedAuthenticationForm):
    """Signs in whoever the role policy lets into this admin (not `is_staff`), with the
    authenticator's code when they turned two-factor sign-in on."""

    otp_token = forms.CharField(
        label="Code", required=False, max_length=8,
        help_text="Only if you turned on two-factor sign-in: your authenticator's code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}))

    def confirm_login_allowed(self, user):
        AuthenticationForm.confirm_login_allowed(self, user)
        if not may_enter(user):
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                  params={"username": self.username_field.verbose_name})
        refusal = otp_refusal(user, self.data.get("otp_token"))
        if refusal:
            raise ValidationError(refusal, code="otp_required")


class TallyAdminSite(UnfoldAdminSite):
    site_header = "Tally"
    site_title = "Tally"
    login_form = RoleAdminLoginForm
    login_template = "admin/tally_login.html"

    def register(self, model_or_iterable, admin_class=None, **options):
        models = [model_or_iterable] if isinstance(model_or_iterable, type) else list(
            model_or_iterable)
        shown = [model for model in models if not menu_hidden(model)]
        if shown:
            themed = themed_admin_class(admin_class)
            confirmed = type(themed.__name__, (ConfirmedActionsMixin, themed),
                             {"__module__": themed.__module__})
            super().register(shown, confirmed, **options)

    def has_permission(self, request):
        return may_enter(request.user) and verified_enough(request.user)

    def get_urls(self):
        # The logo is shown on the sign-in page too: served without a session.
        return [path("branding/logo", self.logo_view, name="provider_logo"),
                *super().get_urls()]

    def logo_view(self, request):
        provider = provider_current()
        if not provider.logo:
            raise Http404("This provider has no logo.")
        return FileResponse(provider.logo.open("rb"))

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        return app_list if app_label else app_list_grouped(app_list)

    def get_sidebar_list(self, request):
        navigation = navigation_from_app_list(self.get_app_list(request), {})
        for group in navigation:
            group["items"] = self._get_navigation_items(request, group["items"])
        return navigation

    def each_context(self, request):
        """Every page names the provider (and shows its logo), the zone its times are shown
        in (the provider's billing zone, activated for the request by tenancy.middleware),
        and a sandbox's clock."""
        context = super().each_context(request)
        provider = provider_current()
        context["site_header"] = context["site_title"] = provider.name
        if provider.logo:
            context["site_logo"] = reverse("admin:provider_logo")
        context["billing_zone"] = provider.billing_timezone
        context["provider_archived"] = provider.archived_at is not None
        clock = sandbox_clock_get()
        if clock is not None:
            context["sandbox_now"] = datetime_text(clock.frozen_time, provider.billing_timezone,
                                                   named=False)
        return context
