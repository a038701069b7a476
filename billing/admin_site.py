"""The provider's admin: who may enter is Tally's role policy (accounts/policy.py).

Django's stock admin lets in `is_staff` users and trusts `is_superuser`; a provider's
admin lets in fleet admins and fleet viewers, and every model permission comes from
their role (accounts.backends.RoleBackend). The platform admin of the public host is
`tenancy.admin.platform_admin_site`, for the platform's superusers.
"""

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django_otp import user_has_device

from accounts.backends import user_access
from accounts.policy import admin_site_allowed
from accounts.two_factor import otp_refusal
from core.timefmt import datetime_text
from cycles.clock import sandbox_clock_get
from tenancy.selectors import provider_current


def may_enter(user) -> bool:
    return bool(user.is_active and user.is_authenticated
                and admin_site_allowed(user_access(user)))


def verified_enough(user) -> bool:
    """A user who turned on two-factor sign-in enters only with a verified session."""
    return not user_has_device(user, confirmed=True) or user.is_verified()


class RoleAdminLoginForm(AdminAuthenticationForm):
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


class TallyAdminSite(AdminSite):
    site_header = "Tally"
    site_title = "Tally"
    login_form = RoleAdminLoginForm
    login_template = "admin/tally_login.html"

    def has_permission(self, request):
        return may_enter(request.user) and verified_enough(request.user)

    def each_context(self, request):
        """Every page names the zone its times are shown in (the provider's billing zone,
        activated for the request by tenancy.middleware), and a sandbox's clock."""
        context = super().each_context(request)
        provider = provider_current()
        context["billing_zone"] = provider.billing_timezone
        clock = sandbox_clock_get()
        if clock is not None:
            context["sandbox_now"] = datetime_text(clock.frozen_time, provider.billing_timezone,
                                                   named=False)
        return context
