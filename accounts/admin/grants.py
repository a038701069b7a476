"""Admin of role grants: granted and revoked through the service, as the granter's own
rights allow."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from accounts.access import access_for
from accounts.admin.service_forms import ServiceModelForm, add_errors, copy_saved
from accounts.grants import role_grant, role_grant_check, role_revoke
from accounts.models import RoleGrant
from audit.admin import AuditHistoryMixin


class RoleGrantForm(ServiceModelForm):
    granter_access = None  # set per request by RoleGrantAdmin.get_form

    class Meta:
        model = RoleGrant
        fields = ("user", "role", "organization", "project")

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                role_grant_check(role=data.get("role"), organization=data.get("organization"),
                                 project=data.get("project"), access=self.granter_access)
            except ValidationError as error:
                add_errors(self, error)
            except (PermissionDenied, Http404) as refused:
                self.add_error(None, str(refused) or "You may not grant this role here.")
        return data


@admin.register(RoleGrant)
class RoleGrantAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("user", "role", "organization", "project", "granted_by", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "organization", "project", "granted_by")
    search_fields = ("user__username", "organization__name", "project__name")
    form = RoleGrantForm
    readonly_fields = ("granted_by", "created_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"granter_access": access_for(request.user)})

    def save_model(self, request, obj, form, change):
        saved = role_grant(user=obj.user, role=obj.role, organization=obj.organization,
                           project=obj.project, granted_by=request.user,
                           access=form.granter_access)
        copy_saved(obj, saved)

    def has_change_permission(self, request, obj=None):
        # A grant is held or not: revoke it and grant another instead of editing.
        return False

    def _revoke(self, request, grant) -> bool:
        try:
            role_revoke(user=grant.user, role=grant.role, organization=grant.organization,
                        project=grant.project, revoked_by=request.user,
                        access=access_for(request.user))
        except (PermissionDenied, Http404):
            self.message_user(request, f"You may not revoke: {grant}.", messages.ERROR)
            return False
        return True

    def delete_model(self, request, obj):
        self._revoke(request, obj)

    def delete_queryset(self, request, queryset):
        for grant in queryset.select_related("user", "organization", "project"):
            self._revoke(request, grant)
