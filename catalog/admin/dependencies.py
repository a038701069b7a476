"""Dependencies between resource types in the admin: which types a credit cascades to.
Written through `dependency_set`; a row may be removed (it is configuration, not
history: credits already on invoices keep their lines)."""

from django.contrib import admin

from catalog.models import Aggregation, ResourceTypeDependency
from catalog.services.directory import dependency_set


@admin.register(ResourceTypeDependency)
class ResourceTypeDependencyAdmin(admin.ModelAdmin):
    list_display = ("resource_type", "depends_on", "credit_cascades")
    list_filter = ("credit_cascades",)
    fields = ("resource_type", "depends_on", "credit_cascades")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        field.queryset = field.queryset.filter(aggregation=Aggregation.DURATION)
        return field

    def get_readonly_fields(self, request, obj=None):
        return ("resource_type", "depends_on") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        saved, _ = dependency_set(resource_type=obj.resource_type.key,
                                  depends_on=obj.depends_on.key,
                                  credit_cascades=obj.credit_cascades)
        obj.pk = saved.pk
        obj._state.adding = False
