"""Admin of API keys: issue one (its secret shown once, on the page after saving),
see name, scope, expiry and last use, and revoke (after a confirmation page). A key is
never edited: issue a new one and revoke the old."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from accounts.admin.service_forms import copy_saved
from accounts.api_keys import EXPIRES_IN_PAST, api_key_issue, api_key_revoke
from accounts.models import ApiKey, ApiKeyScope
from cycles.clock import real_now

SECRET_SHOWN_ONCE = ("API key {name!r} issued. Copy it now, it is never shown again: {secret}")


class ApiKeyIssueForm(forms.ModelForm):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True)
                                  .order_by("username"))
    scope = forms.ChoiceField(choices=ApiKeyScope.choices, initial=ApiKeyScope.INGEST,
                              help_text="ingest: usage and lifecycle events only; read: GET "
                              "only; admin: everything the user's roles allow.")

    class Meta:
        model = ApiKey
        fields = ("user", "name", "scope", "expires_at")

    def clean_expires_at(self):
        # The service checks it again when it writes (save_model).
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= real_now():
            raise ValidationError(EXPIRES_IN_PAST)
        return expires_at


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "scope", "created_at", "expires_at",
                    "last_used_at", "revoked_at")
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("user", "name", "prefix", "scope", "expires_at", "created_by",
                       "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ("revoke_selected",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyIssueForm
            kwargs["fields"] = ("user", "name", "scope", "expires_at")
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        return False  # keys are issued and revoked, never edited

    def has_delete_permission(self, request, obj=None):
        return False  # revoked keys stay, for the audit trail

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            issued = api_key_issue(username=data["user"].username, name=data["name"],
                                   scope=data["scope"], expires_at=data.get("expires_at"),
                                   now=real_now(), actor=request.user)
        except ValidationError as error:  # a race with the form's checks: say why
            messages.error(request, "; ".join(m for ms in error.message_dict.values()
                                              for m in ms))
            raise
        copy_saved(obj, issued.api_key)
        messages.warning(request, SECRET_SHOWN_ONCE.format(name=issued.api_key.name,
                                                           secret=issued.secret))

    @admin.action(description="Revoke selected API keys", permissions=["view"])
    def revoke_selected(self, request, queryset):
        if not request.user.has_perm("accounts.change_apikey"):
            messages.error(request, "Only a fleet admin may revoke API keys.")
            return None
        live = queryset.filter(revoked_at__isnull=True)
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/accounts/apikey/revoke_confirmation.html", {
                **self.admin_site.each_context(request), "title": "Revoke API keys?",
                "keys": live, "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            })
        now = real_now()
        revoked = sum(api_key_revoke(api_key=key, now=now, actor=request.user) for key in live)
        messages.success(request, f"Revoked {revoked} API key(s): they are refused from now on.")
        return None

    # It asks first on a page of its own, which lists the keys and what revoking does.
    revoke_selected.needs_confirmation = False
