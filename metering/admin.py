"""Admin of the usage store: read-only. Events arrive through the ingestion API only,
so what the admin shows is exactly what rating reads."""

from django.contrib import admin

from metering.models import IngestionDay, LateEvent, LifecycleEvent, Resource


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LifecycleEventInline(admin.TabularInline):
    model = LifecycleEvent
    fields = ("occurred_at", "kind", "variant", "event_id", "received_at")
    readonly_fields = fields
    ordering = ("occurred_at", "id")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Resource)
class ResourceAdmin(ReadOnlyAdmin):
    list_display = ("resource_id", "metric", "variant", "project", "region", "service_class",
                    "parent", "created_at")
    list_filter = ("metric", "region", "service_class")
    search_fields = ("resource_id", "project__name")
    list_select_related = ("metric", "project", "parent")
    readonly_fields = ("resource_id", "metric", "variant", "project", "region",
                       "service_class", "parent", "attributes", "created_at")
    fields = readonly_fields
    inlines = [LifecycleEventInline]
    show_full_result_count = False


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "resource", "kind", "occurred_at", "variant", "received_at")
    list_filter = ("kind",)
    search_fields = ("event_id", "resource__resource_id")
    list_select_related = ("resource",)
    readonly_fields = ("event_id", "resource", "kind", "occurred_at", "variant", "received_at")
    fields = readonly_fields
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(IngestionDay)
class IngestionDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "stream", "accepted", "duplicate", "refused")
    list_filter = ("stream",)
    readonly_fields = ("day", "stream", "accepted", "duplicate", "refused")
    fields = readonly_fields
    date_hierarchy = "day"


from metering.models import UsageEvent  # noqa: E402


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "metric", "project", "occurred_at", "value", "received_at")
    list_filter = ("metric",)
    list_select_related = ("metric", "project")
    search_fields = ("event_id", "project__name")
    date_hierarchy = "occurred_at"


@admin.register(LateEvent)
class LateEventAdmin(ReadOnlyAdmin):
    """The late-usage report: events refused because their cycle was finalized."""

    list_display = ("event_id", "stream", "cycle", "occurred_at", "project", "subject",
                    "summary", "received_count", "last_received_at")
    list_filter = ("stream", "cycle")
    search_fields = ("event_id", "project", "subject")
    date_hierarchy = "occurred_at"
