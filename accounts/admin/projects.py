"""Admin of projects: creating one, moving it to another billing account, and where it
billed when."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, Subquery

from accounts.admin.service_forms import ServiceModelForm, add_errors, copy_saved
from accounts.models import BillingAccount, Project, ProjectAccountAssignment
from accounts.projects import project_check, project_create, project_move, project_move_check
from cycles.clock import clock_now


class ProjectAddForm(ServiceModelForm):
    billing_account = forms.ModelChoiceField(
        queryset=BillingAccount.objects.select_related("organization"), required=False,
        help_text="Leave empty to bill to the organization's default account.",
    )

    class Meta:
        model = Project
        fields = ("name", "organization")

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                project_check(name=data.get("name", ""), organization=data["organization"],
                              billing_account=data.get("billing_account"))
            except ValidationError as error:
                add_errors(self, error)
        return data


class ProjectMoveForm(ServiceModelForm):
    """The project's change form: moving it to another account of its organization."""

    move_to = forms.ModelChoiceField(
        queryset=BillingAccount.objects.none(), required=False,
        label="Move to billing account",
        help_text="Bill the project to this account from the instant below.",
    )
    move_effective_from = forms.SplitDateTimeField(
        required=False, widget=AdminSplitDateTime, label="Effective from (UTC)",
        help_text="Leave empty for now. Must be after the last finalized billing cycle.",
    )

    class Meta:
        model = Project
        fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["move_to"].queryset = BillingAccount.objects.filter(
            organization_id=self.instance.organization_id
        )

    def clean(self):
        data = super().clean()
        if data.get("move_to") is not None and not self.errors:
            try:
                project_move_check(project=self.instance, billing_account=data["move_to"],
                                   effective_from=data.get("move_effective_from"),
                                   now=clock_now())
            except ValidationError as error:
                add_errors(self, error, {"billing_account": "move_to",
                                          "effective_from": "move_effective_from"})
        return data


class AssignmentInline(admin.TabularInline):
    """Where the project billed, when: history, read-only (moves go through the form)."""

    model = ProjectAccountAssignment
    fields = ("billing_account", "valid_from", "valid_to", "created_by", "created_at")
    readonly_fields = fields
    ordering = ("valid_from",)
    extra = 0
    can_delete = False
    verbose_name_plural = "billing account history"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("billing_account__organization",
                                                            "created_by")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "current_account", "created_by", "created_at")
    list_select_related = ("organization", "created_by")
    list_filter = ("organization",)
    search_fields = ("name", "organization__name")
    inlines = [AssignmentInline]

    def get_queryset(self, request):
        now = clock_now()  # the provider's clock, not the database's (a sandbox's differs)
        in_force = ProjectAccountAssignment.objects.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=now),
            project=OuterRef("pk"), valid_from__lte=now,
        )
        return super().get_queryset(request).annotate(
            current_account_name=Subquery(in_force.values("billing_account__name")[:1])
        )

    @admin.display(description="bills to now", ordering="current_account_name")
    def current_account(self, project):
        return project.current_account_name or "-"

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ProjectMoveForm if obj is not None else ProjectAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "organization", "billing_account")
        return ("name", "organization", "created_by", "created_at", "move_to",
                "move_effective_from")

    def get_readonly_fields(self, request, obj=None):
        return ("name", "organization", "created_by", "created_at") if obj is not None else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        now = clock_now()
        if change:
            if form.cleaned_data.get("move_to") is not None:
                project_move(project=obj, billing_account=form.cleaned_data["move_to"],
                             effective_from=form.cleaned_data.get("move_effective_from"),
                             actor=request.user, now=now)
            return
        saved = project_create(name=obj.name, organization=obj.organization, actor=request.user,
                               now=now, billing_account=form.cleaned_data.get("billing_account"))
        copy_saved(obj, saved)

    def has_delete_permission(self, request, obj=None):
        return False
