"""Admin of entitlements: seen by fleet roles, ended by fleet admins."""

from django.contrib import admin, messages

from accounts.access import access_for
from accounts.entitlements import entitlement_end
from accounts.models import Entitlement
from audit.admin import AuditHistoryMixin
from core.timefmt import datetime_text
from cycles.clock import clock_now
from tenancy.selectors import provider_current


@admin.register(Entitlement)
class EntitlementAdmin(AuditHistoryMixin, admin.ModelAdmin):
    """Entitlements are accepted through the API (or by an operator there); here they
    are seen and ended, through the service (proration and feature grants follow)."""

    list_display = ("billing_account", "offer_version", "start", "end")
    list_filter = ("offer_version__offer",)
    list_select_related = ("billing_account__organization", "offer_version__offer")
    readonly_fields = ("billing_account", "offer_version", "start", "end", "created_by")
    actions = ["end_now"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return access_for(request.user).sees_fleet

    def has_view_permission(self, request, obj=None):
        return access_for(request.user).sees_fleet

    def has_change_permission(self, request, obj=None):
        return access_for(request.user).fleet_admin

    @admin.action(description="End the selected entitlements now")
    def end_now(self, request, queryset):
        now = clock_now()
        for entitlement in queryset:
            entitlement_end(entitlement=entitlement, now=now, actor=request.user)
        when = datetime_text(now, provider_current().billing_timezone)
        messages.info(request, f"{queryset.count()} entitlement(s) ended at {when}.")
