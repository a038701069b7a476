"""A sandbox's test clock in the admin: one page with the clock, its "Advance" button
and its history. Shown to sandbox providers only."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse

from core.timefmt import datetime_text
from cycles.clock import provider_is_sandbox, sandbox_clock_get
from cycles.clock_advance import ClockAdvancing, sandbox_clock_advance
from cycles.models import ClockAdvance, ClockStatus, SandboxClock
from tenancy.selectors import provider_current


class AdvanceForm(forms.Form):
    to = forms.DateTimeField(
        label="Advance to",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        help_text="In the provider's billing time zone. Cycles, rating, closing, invoices, "
        "emails and payments due on the way run as the clock passes them.",
    )


@admin.register(SandboxClock)
class SandboxClockAdmin(admin.ModelAdmin):
    """One page: the clock, its button and its history. Shown to sandbox providers only."""

    def has_module_permission(self, request):
        return provider_is_sandbox() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return provider_is_sandbox() and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect(reverse("admin:cycles_sandboxclock_changelist"))

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            return redirect(reverse("admin:index"))
        may_advance = request.user.has_perm("cycles.change_sandboxclock")
        # Starts from the clock's time, shown in the provider's zone (the request's).
        form = AdvanceForm(request.POST or None, initial={"to": sandbox_clock_get().frozen_time})
        if request.method == "POST" and may_advance and form.is_valid():
            try:
                sandbox_clock_advance(to=form.cleaned_data["to"], actor=request.user)
            except (ValidationError, ClockAdvancing) as exc:
                form.add_error("to", exc.messages[0] if exc.messages else str(exc))
            else:
                self.message_user(request, "The clock is advancing: this page shows its "
                                  "status.", messages.SUCCESS)
                return redirect(reverse("admin:cycles_sandboxclock_changelist"))
        return render(request, "admin/cycles/sandboxclock/clock.html",
                      self._context(request, form, may_advance))

    def _context(self, request, form, may_advance: bool) -> dict:
        clock = sandbox_clock_get()
        zone = provider_current().billing_timezone
        history = [
            {"from": datetime_text(a.from_time, zone), "to": datetime_text(a.to_time, zone),
             "by": a.requested_by_name, "status": a.get_status_display(), "steps": a.steps,
             "error": a.error}
            for a in ClockAdvance.objects.all()[:20]
        ]
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "title": "Test clock",
            "clock": clock, "zone": zone,
            "now_text": datetime_text(clock.frozen_time, zone),
            "advancing_to_text": (datetime_text(clock.advancing_to, zone)
                                  if clock.advancing_to else ""),
            "advancing": clock.status == ClockStatus.ADVANCING,
            "form": form, "may_advance": may_advance, "history": history,
        }
