"""Confirmation pages for admin actions: nothing that changes data runs from one click.

A changelist action first answers with a page saying what will happen to which objects
(templates/admin/tally/confirm.html); the action runs when that page is posted back with
`confirmed=yes` (and its form, if it has one, is valid).
"""

from django.contrib.admin import helpers
from django.template.response import TemplateResponse


def is_confirmed(request) -> bool:
    return request.method == "POST" and request.POST.get("confirmed") == "yes"


def confirm_page(request, model_admin, *, title: str, intro: str, submit_label: str,
                 consequences: list[str] = (), objects: list = (), form=None,
                 action: str = "", queryset=None, danger: bool = False,
                 cancel_url: str | None = None) -> TemplateResponse:
    """The page; `action` and `queryset` carry a changelist action's choice through."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title, "intro": intro, "consequences": list(consequences),
        "objects": [str(obj) for obj in objects], "form": form, "action": action,
        "selected": [obj.pk for obj in queryset] if queryset is not None else [],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label, "danger": danger,
        "cancel_url": cancel_url or request.get_full_path(),
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, "admin/tally/confirm.html", context)


class ConfirmedActionsMixin:
    """Every changelist action of this admin asks first: its page names the action and the
    selected objects, and the action runs when that page is confirmed. Django's own
    `delete_selected` has its confirmation already; an action that only leads to another
    page sets `needs_confirmation = False` on its function."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {name: (_confirming(func, name, description), name, description)
                if name != "delete_selected" and getattr(func, "needs_confirmation", True)
                else (func, name, description)
                for name, (func, name, description) in actions.items()}


def _confirming(func, name: str, description: str):
    def confirmed_first(model_admin, request, queryset):
        if is_confirmed(request):
            return func(model_admin, request, queryset)
        objects = list(queryset[:50])
        more = queryset.count() - len(objects)
        return confirm_page(
            request, model_admin, title=str(description), action=name, queryset=queryset,
            intro=f"{description}: {len(objects) + more} selected. Go ahead?",
            objects=[*objects, *([f"… and {more} more"] if more > 0 else [])],
            submit_label="Yes, go ahead")

    confirmed_first.__name__ = getattr(func, "__name__", name)
    return confirmed_first
