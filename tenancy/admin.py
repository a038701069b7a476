"""The platform admin, served only on the public host: the provider registry.

Providers' own admin (prices, accounts, invoices) is billing.admin_site.TallyAdminSite,
served on each provider's host; the two never share a model.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from unfold.sites import UnfoldAdminSite
from unfold.widgets import UnfoldAdminTextInputWidget

from core.admin_confirm import confirm_page, is_confirmed
from core.admin_theme import themed_admin_class
from tenancy.lifecycle import (
    NOT_ARCHIVED,
    provider_archive,
    provider_delete,
    provider_unarchive,
)
from tenancy.models import Domain, Provider

ARCHIVE_CONSEQUENCES = [
    "Their sites answer reads only: every write (API, admin, dashboards) is refused.",
    "Beat queues no work for them: no rating, closing, emails or payments.",
    "Every invoice, PDF and number is kept; they can be put back in service, or deleted.",
]


class PlatformAdminSite(UnfoldAdminSite):
    site_header = "Tally platform"
    site_title = "Tally platform"
    index_title = "Service providers"

    def register(self, model_or_iterable, admin_class=None, **options):
        super().register(model_or_iterable, themed_admin_class(admin_class), **options)

    def get_sidebar_list(self, request):
        """The sidebar lists the registry's models (no navigation is configured)."""
        navigation = [{"title": app["name"], "items": [
            {"title": model["name"], "link": model["admin_url"]} for model in app["models"]
        ]} for app in self.get_app_list(request)]
        for group in navigation:
            group["items"] = self._get_navigation_items(request, group["items"])
        return navigation


platform_admin_site = PlatformAdminSite(name="platform_admin")


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class DeleteProviderForm(forms.Form):
    confirmation = forms.CharField(
        label="Type the provider's slug to confirm", max_length=40,
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}))


class ArchivedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "In service"), ("archived", "Archived")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(archived_at__isnull=True)
        if self.value() == "archived":
            return queryset.filter(archived_at__isnull=False)
        return queryset


@admin.register(Provider, site=platform_admin_site)
class ProviderAdmin(admin.ModelAdmin):
    """The registry. Archiving and deleting go through tenancy.lifecycle, each behind a
    confirmation page; deleting needs the slug typed again and an archived provider."""

    list_display = ("slug", "name", "currency", "billing_timezone", "billing_mode", "state",
                    "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("slug", "schema_name", "created_at", "archived_at")
    inlines = [DomainInline]
    actions = ["archive_providers", "unarchive_providers"]
    change_form_template = "admin/tenancy/provider/platform_change_form.html"

    def has_add_permission(self, request):
        # Creating a provider clones a schema and creates its admin: use create_provider.
        return False

    def has_delete_permission(self, request, obj=None):
        # Django's delete would leave the schema behind: the delete page below drops it.
        return False

    @admin.display(description="state", ordering="archived_at")
    def state(self, obj):
        return "archived" if obj.archived_at else "in service"

    @admin.action(description="Archive the selected providers (read-only, invoices kept)",
                  permissions=["change"])
    def archive_providers(self, request, queryset):
        live = queryset.filter(archived_at__isnull=True)
        if not is_confirmed(request):
            return confirm_page(
                request, self, title="Archive providers", action="archive_providers",
                queryset=live, objects=live, submit_label="Archive",
                intro="Archive these providers?", consequences=ARCHIVE_CONSEQUENCES)
        for provider in live:
            provider_archive(provider=provider, now=timezone.now())
        self.message_user(request, f"Archived {len(live)} provider(s).", messages.SUCCESS)
        return None

    @admin.action(description="Put the selected archived providers back in service",
                  permissions=["change"])
    def unarchive_providers(self, request, queryset):
        archived = queryset.filter(archived_at__isnull=False)
        if not is_confirmed(request):
            return confirm_page(
                request, self, title="Back in service", action="unarchive_providers",
                queryset=archived, objects=archived, submit_label="Put back in service",
                intro="Put these providers back in service? Their sites accept writes and "
                "beat works for them again.")
        for provider in archived:
            provider_unarchive(provider=provider)
        self.message_user(request, f"{len(archived)} provider(s) back in service.",
                          messages.SUCCESS)
        return None

    def get_urls(self):
        return [path("<int:provider_id>/delete-provider/",
                     self.admin_site.admin_view(self.delete_provider_view),
                     name="tenancy_provider_delete_provider"), *super().get_urls()]

    def delete_provider_view(self, request, provider_id: int):
        provider = self.get_object(request, str(provider_id))
        if provider is None or not self.has_change_permission(request, provider):
            raise PermissionDenied
        change_url = reverse(f"{self.admin_site.name}:tenancy_provider_change",
                             args=[provider.pk])
        if provider.archived_at is None:
            self.message_user(request, NOT_ARCHIVED.format(slug=provider.slug), messages.ERROR)
            return redirect(change_url)
        form = DeleteProviderForm(request.POST if is_confirmed(request) else None)
        if form.is_bound and form.is_valid():
            try:
                provider_delete(provider=provider,
                                confirmation=form.cleaned_data["confirmation"])
            except ValidationError as error:
                form.add_error("confirmation", error.messages)
            else:
                self.message_user(request, f"Deleted {provider.slug}: its schema and files "
                                  "are gone.", messages.SUCCESS)
                return redirect(reverse(f"{self.admin_site.name}:tenancy_provider_changelist"))
        return confirm_page(
            request, self, title=f"Delete {provider.name}", intro=(
                f"Delete {provider} for good? There is no undo but a backup "
                f"(manage.py provider_backup {provider.slug} FILE)."),
            consequences=[f"Drops schema {provider.schema_name}: every invoice, user, price "
                          "and event in it.", f"Removes its files ({provider.schema_name}/ "
                          "in the media folder: invoice PDFs, logo).",
                          "Removes its host names: its site answers 404."],
            form=form, submit_label="Delete this provider", danger=True,
            cancel_url=change_url)


platform_admin_site.register(User, UserAdmin)
platform_admin_site.register(Group, GroupAdmin)
