"""Operator admin for SLA credits: created through the service, so the same rules hold."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.admin import AuditHistoryMixin
from cycles.clock import clock_now
from invoicing.credits import credit_create, credit_withdraw
from invoicing.models import Credit


class CreditForm(forms.ModelForm):
    class Meta:
        model = Credit
        fields = ["name", "description", "window_start", "window_end", "organization",
                  "project", "resource", "region", "metric_key"]
        labels = {"metric_key": "Resource type"}
        help_texts = {"window_start": "UTC, inclusive", "window_end": "UTC, exclusive"}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        self._validated = None
        try:
            # Validate with the service's rules, in a savepoint we roll back: the
            # admin's save_model writes for real.
            with transaction.atomic():
                self._validated = credit_create(
                    name=cleaned.get("name"), description=cleaned.get("description"),
                    window_start=cleaned.get("window_start"),
                    window_end=cleaned.get("window_end"),
                    organization=cleaned.get("organization"), project=cleaned.get("project"),
                    resource=cleaned.get("resource"), region=cleaned.get("region") or "",
                    metric_key=cleaned.get("metric_key") or "",
                )
                transaction.set_rollback(True)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                target = {"scope": None, "resource_type": "metric_key"}.get(field, field)
                for message in messages:
                    self.add_error(target if target in self.fields else None, message)
        return cleaned


@admin.register(Credit)
class CreditAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = CreditForm
    list_display = ("name", "window_start", "window_end", "scope", "organization", "project",
                    "resource", "region", "metric_key", "created_by")
    list_filter = ("scope", "region")
    search_fields = ("name", "description")
    list_select_related = ("organization", "project", "resource", "created_by")

    def has_change_permission(self, request, obj=None):
        # A credit is replaced, not edited: withdraw it and create another.
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        created = credit_create(
            name=obj.name, description=obj.description, window_start=obj.window_start,
            window_end=obj.window_end, organization=obj.organization, project=obj.project,
            resource=obj.resource, region=obj.region, metric_key=obj.metric_key,
            actor=request.user, now=clock_now(),
        )
        obj.pk = created.pk

    def delete_model(self, request, obj):
        credit_withdraw(credit=obj)

    def get_actions(self, request):
        # Bulk delete would bypass the finalized-cycle check.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
