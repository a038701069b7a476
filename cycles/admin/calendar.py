"""Billing cycles in the admin: read-only (the calendar makes them); "Add" opens the
cycle of a month, e.g. to import its history (cycles.services.cycle_open), with the
service's refusals as form errors."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction

from core.timefmt import period_text
from cycles.clock import clock_now
from cycles.models import BillingCycle
from cycles.selectors import billing_start_at, month_label
from cycles.services import cycle_open
from tenancy.selectors import provider_current


class CycleOpenForm(forms.ModelForm):
    month = forms.CharField(
        max_length=7, help_text="YYYY-MM in the provider's billing time zone: a past or the "
        "current month, from the billing start on.")

    class Meta:
        model = BillingCycle
        fields = ()

    def clean(self):
        cleaned = super().clean()
        month = cleaned.get("month")
        if not month:
            return cleaned
        try:
            # Checked with the service's rules in a savepoint rolled back; save_model opens.
            with transaction.atomic():
                cycle_open(month=month, now=clock_now())
                transaction.set_rollback(True)
        except ValidationError as refused:
            for messages in refused.message_dict.values():
                for message in messages:
                    self.add_error("month", message)
        return cleaned


@admin.register(BillingCycle)
class BillingCycleAdmin(admin.ModelAdmin):
    list_display = ("label", "period", "start", "end", "status", "closed_at")
    list_filter = ("status",)
    readonly_fields = ("label", "period", "start", "end", "status", "closed_at")

    @admin.display(description="period")
    def period(self, obj):
        return period_text(obj.start, obj.end, provider_current().billing_timezone)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CycleOpenForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("month",) if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def add_view(self, request, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}),
                         "subtitle": f"Bills from {month_label(billing_start_at())}"}
        return super().add_view(request, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        cycle, _ = cycle_open(month=form.cleaned_data["month"], now=clock_now())
        for field in ("pk", "start", "end", "label", "status", "closed_at"):
            setattr(obj, field, getattr(cycle, field))

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
