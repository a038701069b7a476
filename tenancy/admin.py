"""The platform admin, served only on the public host: the provider registry.

Providers' own admin (prices, accounts, invoices) is Django's default site,
served on each provider's host; the two never share a model.
"""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from tenancy.models import Domain, Provider


class PlatformAdminSite(admin.AdminSite):
    site_header = "Tally platform"
    site_title = "Tally platform"
    index_title = "Service providers"


platform_admin_site = PlatformAdminSite(name="platform_admin")


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Provider, site=platform_admin_site)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "currency", "billing_timezone", "billing_mode", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("slug", "schema_name", "created_at")
    inlines = [DomainInline]

    def has_add_permission(self, request):
        # Creating a provider clones a schema and creates its admin: use create_provider.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


platform_admin_site.register(User, UserAdmin)
platform_admin_site.register(Group, GroupAdmin)
