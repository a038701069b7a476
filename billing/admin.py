"""The provider's own settings, on its admin: one page, the provider serving the request.

Name, logo, address, tax id and legal footer (printed on invoices), billing time zone,
currency, grace period and future horizon. Writes go through
`tenancy.lifecycle.provider_settings_update`; currency and time zone are fixed once an
invoice was finalized (they label money and months already billed). Whether it is a
sandbox, its slug and its billing mode are shown, never changed here.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse

from invoicing.models import Invoice, InvoiceStatus
from tenancy.lifecycle import SETTINGS_FIELDS, provider_settings_update
from tenancy.models import Provider
from tenancy.selectors import provider_current

FIXED_ONCE_BILLED_NOTE = ("Currency and billing time zone are fixed: invoices were finalized "
                          "in them.")


def _has_finalized_invoices() -> bool:
    return Invoice.objects.exclude(status=InvoiceStatus.DRAFT).exists()


@admin.register(Provider)
class ProviderSettingsAdmin(admin.ModelAdmin):
    fieldsets = (
        ("Identity (printed on invoices)", {"fields": ("name", "logo", "address", "tax_id",
                                                      "legal_footer")}),
        ("Billing", {"fields": ("currency", "billing_timezone", "grace_period",
                                "future_horizon")}),
        ("This provider", {"fields": ("slug", "billing_mode", "sandbox", "created_at")}),
    )

    def get_queryset(self, request):
        # Only the provider whose host serves the request: never another one's row.
        return super().get_queryset(request).filter(pk=provider_current().pk)

    def get_readonly_fields(self, request, obj=None):
        fixed = ("slug", "billing_mode", "sandbox", "created_at")
        if _has_finalized_invoices():
            fixed = ("currency", "billing_timezone", *fixed)
        return fixed

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        return redirect(reverse("admin:tenancy_provider_change", args=[provider_current().pk]))

    def render_change_form(self, request, context, *args, **kwargs):
        context["title"] = "Provider settings"
        if _has_finalized_invoices():
            context["subtitle"] = FIXED_ONCE_BILLED_NOTE
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in SETTINGS_FIELDS
                   if name in form.cleaned_data and name in form.changed_data}
        if changes.get("logo") is False:  # "Clear" ticked
            changes["logo"] = ""
        try:
            provider_settings_update(provider=provider_current(), changes=changes,
                                     has_finalized_invoices=_has_finalized_invoices())
        except ValidationError as error:  # checked by the form already; a race
            messages.error(request, " ".join(error.messages))

    def response_change(self, request, obj):
        self.message_user(request, "Provider settings saved.", messages.SUCCESS)
        return redirect(reverse("admin:tenancy_provider_change", args=[obj.pk]))
