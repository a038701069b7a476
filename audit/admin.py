"""The audit log in the provider's admin: read-only, newest first, by model and object.

Fleet admins and fleet viewers see it (the `audit.view_auditevent` permission, which
Tally's roles grant through accounts/backends.py); nobody adds, changes or deletes an
event. Each audited model's admin sends its "History" button here, filtered to the
object (`AuditHistoryMixin`).
"""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from audit import changes
from audit.models import AuditEvent

CHANGELIST = "admin:audit_auditevent_changelist"


def audit_log_url(obj_key: str, *, current_app: str = "admin") -> str:
    """The audit log filtered to one object (`catalog.price:12`)."""
    url = reverse(CHANGELIST, current_app=current_app)
    return f"{url}?{urlencode({'object': obj_key})}"


class AuditHistoryMixin:
    """For the admin of an audited model: its change form's "History" opens the audit log
    of the object (every write, whoever made it), instead of Django's admin-only log."""

    def history_view(self, request, object_id, extra_context=None):
        key = f"{self.opts.label_lower}:{unquote(object_id)}"
        return HttpResponseRedirect(audit_log_url(key, current_app=self.admin_site.name))


class AuditedModelFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return [(model._meta.label_lower, capfirst(model._meta.verbose_name))
                for model in changes.audited_models()]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        model = changes.model_from_label(self.value())
        # Only the model's own event table is read (pghistory's `across`).
        return queryset.across(model.pgh_event_model) if model else queryset.none()


class AuditedObjectFilter(admin.SimpleListFilter):
    """`?object=catalog.price:12`: one row's events, the row deleted or not. Reached from
    the object's "History" and from the log's own links; listed only while in use."""

    title = "object"
    parameter_name = "object"

    def lookups(self, request, model_admin):
        value = request.GET.get(self.parameter_name)
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        obj = changes.object_from_key(self.value())
        return queryset.tracks(obj) if obj is not None else queryset.none()


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("when", "who", "through", "audited_object", "event", "what_changed")
    list_filter = (AuditedModelFilter, AuditedObjectFilter)
    fields = ("when", "who", "through", "audited_object", "event", "what_changed")
    ordering = ("-pgh_created_at",)
    list_per_page = 50
    # Counting every event of every table twice per page is the slow part of the page.
    show_full_result_count = False
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        events = AuditEvent.objects.all()
        object_id = request.resolver_match.kwargs.get("object_id")
        if object_id is not None:
            # One event: read only its table (`catalog.PriceEvent:12`).
            label = unquote(object_id).partition(":")[0]
            events = events.across(label) if label in _event_labels() else events.none()
        return changes.with_exact_values(events).order_by(*self.ordering)

    @admin.display(description="when", ordering="pgh_created_at")
    def when(self, event):
        return event.pgh_created_at

    @admin.display(description="who")
    def who(self, event):
        return changes.who(event.pgh_context)

    @admin.display(description="through")
    def through(self, event):
        return changes.through(event.pgh_context)

    @admin.display(description="object")
    def audited_object(self, event):
        model = changes.model_from_label(event.pgh_obj_model)
        if model is None:
            return f"{event.pgh_obj_model} #{event.pgh_obj_id}"
        key = f"{model._meta.label_lower}:{event.pgh_obj_id}"
        name = f"{capfirst(model._meta.verbose_name)} #{event.pgh_obj_id}"
        history = audit_log_url(key, current_app=self.admin_site.name)
        page = self._change_url(model, event.pgh_obj_id)
        if page is None:
            return format_html('{} (<a href="{}">history</a>)', name, history)
        return format_html('<a href="{}">{}</a> (<a href="{}">history</a>)', page, name,
                           history)

    @admin.display(description="event")
    def event(self, event):
        return changes.event_word(event.pgh_label)

    @admin.display(description="what changed (before → after)")
    def what_changed(self, event):
        fields = changes.field_changes(
            model_label=event.pgh_obj_model, label=event.pgh_label,
            data=changes.exact(event.data_text), diff=changes.exact(event.diff_text))
        rows = [(f.field, _before_after(f)) for f in fields]
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", rows))

    def _change_url(self, model, pk) -> str | None:
        if not self.admin_site.is_registered(model):
            return None
        info = (model._meta.app_label, model._meta.model_name)
        try:
            return reverse("admin:{}_{}_change".format(*info), args=[quote(pk)],
                           current_app=self.admin_site.name)
        except NoReverseMatch:
            return None


def _before_after(change: changes.FieldChange) -> str:
    if change.before is None:
        return change.after
    if change.after is None:
        return change.before
    return f"{change.before} → {change.after}"


def _event_labels() -> set[str]:
    return {model.pgh_event_model._meta.label for model in changes.audited_models()}
