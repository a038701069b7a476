"""The billing calendar in the admin: read-only, cycles are made by the calendar itself."""

from django.contrib import admin

from cycles.models import BillingCycle


@admin.register(BillingCycle)
class BillingCycleAdmin(admin.ModelAdmin):
    list_display = ("label", "start", "end", "status", "closed_at")
    list_filter = ("status",)
    readonly_fields = ("label", "start", "end", "status", "closed_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
