"""The platform admin's "Add provider" form: a provider with its schema, its first fleet
admin and, for a sandbox, its test clock (the same `accounts.onboarding.provider_onboard`
as `manage.py create_provider`).

Creating a provider spans tenancy (the registry, the schema) and accounts (its first
admin), so the form is wired here, at the top, onto tenancy's registry admin.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError

from accounts.onboarding import provider_onboard, provider_onboard_errors
from tenancy.admin import ProviderAdmin, platform_admin_site
from tenancy.models import Provider

CREATE_FIELDS = ("name", "slug", "currency", "billing_timezone", "grace_period", "billing_mode",
                 "address", "sandbox")
CREATED = ("Created provider {slug} on {domain}; its fleet admin {admin} signs in with the "
           "password {password} (shown once).")


class ProviderCreateForm(forms.ModelForm):
    admin_username = forms.CharField(max_length=150, help_text="The first fleet admin.")
    admin_email = forms.EmailField(required=False)
    admin_password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Empty: one is generated and shown once.")
    clock_frozen_at = forms.DateTimeField(
        required=False, label="Clock frozen at (UTC)",
        help_text="A sandbox only: where its test clock starts. Empty: the moment it is "
        "created.")

    class Meta:
        model = Provider
        fields = CREATE_FIELDS

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        fields = {name: data.get(name) for name in CREATE_FIELDS if name != "address"}
        errors = provider_onboard_errors(admin_username=data.get("admin_username") or "",
                                         clock_frozen_at=data.get("clock_frozen_at"), **fields)
        for field, reasons in errors.items():
            self.add_error(field if field in self.fields else None, reasons)
        return data


class PlatformProviderAdmin(ProviderAdmin):
    list_display = (*ProviderAdmin.list_display, "sandbox")
    list_filter = ("sandbox", "billing_mode")

    def has_add_permission(self, request):
        return request.user.has_perm("tenancy.add_provider")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ProviderCreateForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return (*CREATE_FIELDS, "clock_frozen_at", "admin_username", "admin_email",
                    "admin_password")
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # A sandbox stays a sandbox: its clock is not real time, nor the other way round.
        return (*super().get_readonly_fields(request, obj), "sandbox")

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        try:
            created = provider_onboard(
                admin_username=data["admin_username"], admin_email=data["admin_email"],
                admin_password=data["admin_password"] or None,
                clock_frozen_at=data["clock_frozen_at"],
                **{name: data[name] for name in CREATE_FIELDS if name != "address"},
            )
        except ValidationError as error:  # a race with another creation of the same slug
            raise forms.ValidationError(error.messages) from error
        Provider.objects.filter(pk=created.provider.pk).update(address=data["address"])
        # The admin goes on with `obj` (the log entry, the redirect): make it the new row.
        obj.pk = created.provider.pk
        obj.schema_name = created.provider.schema_name
        obj.created_at = created.provider.created_at
        if not data["admin_password"]:
            messages.warning(request, CREATED.format(
                slug=created.provider.slug, domain=created.domain, admin=created.admin_username,
                password=created.admin_password))


platform_admin_site.unregister(Provider)
platform_admin_site.register(Provider, PlatformProviderAdmin)
