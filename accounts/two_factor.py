"""TOTP two-factor sign-in for fleet admins (django-otp).

A fleet admin turns it on at /account/two-factor/: Tally makes a TOTP device, shows its
otpauth:// address and key for an authenticator app, and confirms it once the admin
types a code it shows. From then on the admin's sign-in (the admin site and /login/)
asks for the current code after the password (`otp_refusal`), and the admin site lets
in only a session verified with it (`billing.admin_site`). Turning it off takes a
current code too."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_otp import devices_for_user, match_token, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.backends import user_access

ERR_CODE = "Enter the 6-digit code your authenticator app shows for Tally."
DEVICE_NAME = "Authenticator app"


class CodeForm(forms.Form):
    otp_token = forms.CharField(label="Code", max_length=8, required=False,
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                              "inputmode": "numeric"}))


def otp_refusal(user, token: str | None) -> str | None:
    """Why a password-checked sign-in still fails the second factor, or None: a user
    with a confirmed device must give its current code (and then `user.otp_device`
    is set, which django-otp records on the session at sign-in)."""
    if user is None or not user_has_device(user, confirmed=True):
        return None
    device = match_token(user, (token or "").strip()) if token else None
    if device is None:
        return ERR_CODE
    user.otp_device = device
    return None


class TwoFactorLoginForm(AuthenticationForm):
    """The sign-in page's form: the password, then the code for those who turned
    two-factor sign-in on."""

    otp_token = CodeForm.base_fields["otp_token"]

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        refusal = otp_refusal(user, self.data.get("otp_token"))
        if refusal:
            raise forms.ValidationError(refusal, code="otp_required")


def _pending_device(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_page(request):
    if not user_access(request.user).fleet_admin:
        raise PermissionDenied("Two-factor sign-in is for fleet billing admins.")
    user, form, error = request.user, CodeForm(request.POST or None), None
    enabled = user_has_device(user, confirmed=True)
    action = request.POST.get("action")
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["otp_token"]
        with transaction.atomic():
            if action == "confirm" and not enabled:
                device = _pending_device(user)
                if device.verify_token(token):
                    TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
                    return redirect("two-factor")
                error = ERR_CODE
            elif action == "off" and enabled:
                if match_token(user, token) is not None:
                    for device in devices_for_user(user, confirmed=None):
                        device.delete()
                    return redirect("two-factor")
                error = ERR_CODE
    device = None if enabled else _pending_device(user)
    return render(request, "accounts/two_factor.html", {
        "enabled": enabled, "device": device, "form": form, "error": error,
    })
