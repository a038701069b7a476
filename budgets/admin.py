"""Admin of budgets: every write goes through a service; its refusals show as form errors.

The budget form runs `budget_check` in `clean()`, then `save_model` calls
`budget_create` / `budget_update` (which check again inside their transaction). Alerts
and webhook deliveries are read-only here: they are history. What changed a budget, and
who, is in the audit log (the change form's History).
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from accounts.models import Organization, Project
from audit.admin import AuditHistoryMixin
from budgets.alerts import webhook_subject
from budgets.models import Budget, BudgetAlert, BudgetScope
from budgets.services import budget_check, budget_create, budget_delete, budget_update
from cycles.clock import clock_now
from notifications.webhooks import webhook_deliveries_for

THRESHOLDS_FORMAT = "whole percentages separated by commas, e.g. 50, 80, 100"
SCOPE_TARGET_REQUIRED = "choose the {scope} this budget is for"
SCOPE_TARGET_EXTRA = "a {scope} budget has no {other}: leave it empty"


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form's fields (unknown fields: the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class BudgetForm(forms.ModelForm):
    thresholds = forms.CharField(help_text=f"Percent of the amount: {THRESHOLDS_FORMAT}.")
    recipient_users = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False, widget=FilteredSelectMultiple("users", False),
        help_text="Users who see this scope's spend; they are emailed at their address.",
    )
    recipient_emails = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False,
        help_text="Other addresses to email: one per line.",
    )
    webhook_secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False), required=False,
        help_text="Signs each webhook by the Standard Webhooks spec (webhook-id, "
        "webhook-timestamp, webhook-signature headers). "
        "At least 16 characters. Leave empty to keep the current one.",
    )

    class Meta:
        model = Budget
        fields = ("name", "scope", "organization", "project", "amount", "webhook_url")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        budget = self.instance
        if budget.pk:
            self.initial["thresholds"] = ", ".join(str(t) for t in budget.thresholds)
            recipients = list(budget.recipients.all())
            self.initial["recipient_users"] = [r.user_id for r in recipients if r.user_id]
            self.initial["recipient_emails"] = "\n".join(r.email for r in recipients if r.email)
        for name in ("organization", "project"):
            if name in self.fields:
                self.fields[name].required = False

    def validate_unique(self):
        # Uniqueness and constraints are checked by the service, with clearer messages.
        pass

    def _post_clean(self):
        # The model is written by the service, not by the form: skip model validation
        # (its thresholds are an array the text field does not fill in).
        pass

    def clean(self):
        data = super().clean()
        budget = self.instance if self.instance.pk else None
        if budget is not None:
            scope = budget.scope
            organization = budget.organization if scope == BudgetScope.ORGANIZATION else None
            project = budget.project if scope == BudgetScope.PROJECT else None
        else:
            scope = data.get("scope")
            organization, project = data.get("organization"), data.get("project")
            if scope == BudgetScope.PROJECT:
                if project is None:
                    self.add_error("project", SCOPE_TARGET_REQUIRED.format(scope="project"))
                if organization is not None:
                    self.add_error("organization", SCOPE_TARGET_EXTRA.format(
                        scope="project", other="organization"))
            elif scope == BudgetScope.ORGANIZATION:
                if organization is None:
                    self.add_error("organization",
                                   SCOPE_TARGET_REQUIRED.format(scope="organization"))
                if project is not None:
                    self.add_error("project", SCOPE_TARGET_EXTRA.format(
                        scope="organization", other="project"))
        try:
            thresholds = [int(part) for part in
                          (data.get("thresholds") or "").replace(";", ",").split(",")
                          if part.strip()]
        except ValueError:
            self.add_error("thresholds", THRESHOLDS_FORMAT)
            thresholds = None
        if self.errors:
            return data
        try:
            spec = budget_check(
                organization=organization, project=project, name=data.get("name", ""),
                amount=data.get("amount"), thresholds=thresholds,
                recipient_usernames=[u.username for u in data.get("recipient_users") or []],
                recipient_emails=(data.get("recipient_emails") or "").split(),
                webhook_url=data.get("webhook_url") or "",
                webhook_secret=data.get("webhook_secret") or None, budget=budget,
            )
        except ValidationError as error:
            _add_errors(self, error)
        else:
            data["spec"] = spec
            data["organization"], data["project"] = organization, project
        return data


class BudgetAlertInline(admin.TabularInline):
    model = BudgetAlert
    fields = ("cycle", "threshold", "recipient", "spend", "budget_amount", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-created_at", "threshold", "recipient")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # history, shown read-only (and not re-validated on save)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("cycle")


@admin.register(Budget)
class BudgetAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = BudgetForm
    list_display = ("name", "scope", "target", "amount", "threshold_list", "recipient_count",
                    "has_webhook", "updated_at")
    list_filter = ("scope",)
    search_fields = ("name", "project__name", "organization__name",
                     "project__organization__name")
    list_select_related = ("organization", "project")
    inlines = [BudgetAlertInline]

    # The policy's table decides per budget (accounts/policy.py): a fleet viewer may
    # set budgets and change only the ones they set; a fleet admin changes all.
    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("budgets.change_budget", obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("budgets.delete_budget", obj)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("recipients")

    def get_fields(self, request, obj=None):
        fields = ["name", "amount", "thresholds", "recipient_users", "recipient_emails",
                  "webhook_url", "webhook_secret"]
        if obj is None:
            return ["scope", "organization", "project", *fields]
        return ["scope", "target", *fields, "webhook_deliveries", "created_by", "created_at",
                "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        # The scope is what the alerts and their keys refer to: fixed once created.
        if obj is None:
            return ()
        return ("scope", "target", "webhook_deliveries", "created_by", "created_at",
                "updated_at")

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "organization":
            kwargs["queryset"] = Organization.objects.order_by("name")
        if db_field.name == "project":
            kwargs["queryset"] = Project.objects.select_related("organization").order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="for")
    def target(self, budget):
        return budget.project if budget.scope == BudgetScope.PROJECT else budget.organization

    @admin.display(description="webhook deliveries")
    def webhook_deliveries(self, budget):
        rows = webhook_deliveries_for(subject=webhook_subject(budget.pk))[:20]
        return format_html_join(
            mark_safe("<br>"), "{} · {}% · {} ({} attempts)",
            ((d.details.get("period"), d.details.get("threshold"), d.get_status_display(),
              d.attempts) for d in rows),
        ) or "none yet"

    @admin.display(description="thresholds")
    def threshold_list(self, budget):
        return ", ".join(f"{t}%" for t in budget.thresholds)

    @admin.display(description="recipients")
    def recipient_count(self, budget):
        return len(budget.recipients.all())

    @admin.display(description="webhook", boolean=True)
    def has_webhook(self, budget):
        return bool(budget.webhook_url)

    def save_model(self, request, obj, form, change):
        spec = form.cleaned_data["spec"]
        args = {
            "name": spec.name, "amount": spec.amount, "thresholds": spec.thresholds,
            "recipient_usernames": [u.username for u in spec.users],
            "recipient_emails": spec.emails, "webhook_url": spec.webhook_url,
            "webhook_secret": form.cleaned_data.get("webhook_secret") or None,
            "actor": request.user, "now": clock_now(),
        }
        if change:
            saved = budget_update(budget=obj, **args)
        else:
            saved = budget_create(organization=form.cleaned_data["organization"],
                                  project=form.cleaned_data["project"], **args)
        obj.pk = saved.pk
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})
        obj._state.adding, obj._state.db = False, saved._state.db

    def get_deleted_objects(self, objs, request):
        # A budget's alerts and webhook deliveries go with it (through the service);
        # their read-only admins must not make the deletion look forbidden.
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request, obj):
        budget_delete(budget=obj, actor=request.user, now=clock_now())

    def delete_queryset(self, request, queryset):
        now = clock_now()
        for budget in queryset:
            # The bulk action asks the policy per budget, as the change page does.
            if not self.has_delete_permission(request, budget):
                raise PermissionDenied
            budget_delete(budget=budget, actor=request.user, now=now)


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BudgetAlert)
class BudgetAlertAdmin(_ReadOnlyAdmin):
    list_display = ("budget", "cycle", "threshold", "recipient", "spend", "budget_amount",
                    "currency", "created_at")
    list_filter = ("cycle", "threshold")
    search_fields = ("budget__name", "recipient", "outbox_key")
    list_select_related = ("budget__organization", "budget__project", "cycle")
