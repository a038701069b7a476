"""Admin of API keys: seen here; issued by `manage.py issue_api_key`, which shows the
secret once."""

from django.contrib import admin

from accounts.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    search_fields = ("name", "prefix", "user__username")

    def has_add_permission(self, request):
        # The secret must be shown once at issue time: use `manage.py issue_api_key`.
        return False
