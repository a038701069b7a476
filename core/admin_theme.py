"""The admin's theme (django-unfold) applied where a ModelAdmin is registered.

Unfold styles forms, lists and inlines through its own ModelAdmin and inline classes.
Rather than have every app's admin module inherit from them (and break the day an app
forgets), the admin sites mix them in when a ModelAdmin is registered: the app's class
stays first in the MRO, so its own fields, permissions and views win, and Unfold's sits
just above Django's, where its widgets and templates take over.
"""

from django.contrib import admin
from unfold.admin import ModelAdmin as ThemedModelAdmin
from unfold.admin import StackedInline as ThemedStackedInline
from unfold.admin import TabularInline as ThemedTabularInline
from unfold.mixins import BaseModelAdminMixin


def _themed_inline(inline: type) -> type:
    if issubclass(inline, BaseModelAdminMixin):
        return inline
    base = ThemedTabularInline if issubclass(inline, admin.TabularInline) else (
        ThemedStackedInline)
    return type(inline.__name__, (inline, base), {"__module__": inline.__module__})


def themed_admin_class(admin_class: type | None) -> type:
    """`admin_class` (None: Django's default) with Unfold's ModelAdmin mixed in, and its
    inlines likewise."""
    admin_class = admin_class or admin.ModelAdmin
    if not issubclass(admin_class, BaseModelAdminMixin):
        admin_class = type(admin_class.__name__, (admin_class, ThemedModelAdmin),
                           {"__module__": admin_class.__module__})
    inlines = [_themed_inline(inline) for inline in getattr(admin_class, "inlines", [])]
    if inlines:
        admin_class = type(admin_class.__name__, (admin_class,),
                           {"__module__": admin_class.__module__, "inlines": inlines})
    return admin_class
