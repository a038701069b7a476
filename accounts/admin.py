"""Admin of accounts: every write goes through a service; its refusals show as form errors.

Forms run the service's checks in `clean()` (the `*_check` functions), then
`save_model` calls the service, which checks again inside its transaction.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Now
from django.http import Http404
from django.utils import timezone

from accounts.access import access_for
from accounts.models import (
    ApiKey,
    BillingAccount,
    BillingContact,
    Organization,
    PaymentKind,
    Project,
    ProjectAccountAssignment,
    RoleGrant,
)
from accounts.services import (
    billing_account_check,
    billing_account_create,
    billing_account_set_default,
    billing_account_update,
    billing_contact_add,
    billing_contact_remove,
    organization_check,
    organization_create,
    organization_update,
    project_check,
    project_create,
    project_move,
    project_move_check,
    role_grant,
    role_grant_check,
    role_revoke,
)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    search_fields = ("name", "prefix", "user__username")

    def has_add_permission(self, request):
        # The secret must be shown once at issue time: use `manage.py issue_api_key`.
        return False


def _add_errors(form: forms.Form, error: ValidationError, renames: dict[str, str] | None = None):
    """Put a service's ValidationError on the form's fields (unknown fields: the form)."""
    renames = renames or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.message_dict.items():
        target = renames.get(field, field)
        form.add_error(target if target in form.fields else None, errors)


def _copy_saved(obj, saved) -> None:
    """The admin expects `obj` itself saved: take over what the service wrote."""
    obj.pk = saved.pk
    obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})
    obj._state.adding, obj._state.db = False, saved._state.db


class _ServiceModelForm(forms.ModelForm):
    def validate_unique(self):
        # Uniqueness and constraints are checked by the services, with clearer messages.
        pass


# --- Organizations ----------------------------------------------------------


class OrganizationAddForm(_ServiceModelForm):
    billing_account_name = forms.CharField(
        initial="Main", required=False,
        help_text="Its first billing account, which becomes the default. Leave empty to add "
        "one later (projects need one).",
    )
    payment_kind = forms.ChoiceField(choices=PaymentKind.choices, initial=PaymentKind.CHARGEBACK)

    class Meta:
        model = Organization
        fields = ("name", "display_name")

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                organization_check(
                    name=data.get("name", ""), display_name=data.get("display_name", ""),
                    billing_account_name=data.get("billing_account_name", ""),
                    payment_kind=data.get("payment_kind", ""),
                )
            except ValidationError as error:
                _add_errors(self, error)
        return data


class BillingAccountInline(admin.TabularInline):
    """The organization's accounts, read here; add and edit them on their own page."""

    model = BillingAccount
    fields = ("name", "is_default", "payment_kind", "contact_list")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("contacts")

    @admin.display(description="billing contacts")
    def contact_list(self, account):
        return ", ".join(c.email for c in account.contacts.all()) or "-"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "display_name", "default_account", "created_at")
    search_fields = ("name", "display_name")
    inlines = [BillingAccountInline]

    def get_queryset(self, request):
        default = BillingAccount.objects.filter(organization=OuterRef("pk"), is_default=True)
        return super().get_queryset(request).annotate(
            default_account_name=Subquery(default.values("name")[:1])
        )

    @admin.display(description="default billing account", ordering="default_account_name")
    def default_account(self, organization):
        return organization.default_account_name or "-"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = OrganizationAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "display_name", "billing_account_name", "payment_kind")
        return ("name", "display_name", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # The name is how the API finds it: fixed once created.
        return ("name", "created_at") if obj is not None else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        now = timezone.now()
        if change:
            organization_update(organization=obj, display_name=obj.display_name,
                                actor=request.user, now=now)
            return
        saved = organization_create(
            name=obj.name, display_name=obj.display_name, actor=request.user, now=now,
            billing_account_name=form.cleaned_data.get("billing_account_name") or None,
            payment_kind=form.cleaned_data["payment_kind"],
        )
        _copy_saved(obj, saved)

    def has_delete_permission(self, request, obj=None):
        # Invoices and projects refer to organizations; history is never deleted.
        return False


# --- Billing accounts -------------------------------------------------------


class BillingAccountAddForm(_ServiceModelForm):
    contact_emails = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False,
        help_text="Who receives its invoices: one email address per line.",
    )

    class Meta:
        model = BillingAccount
        fields = ("organization", "name", "payment_kind")

    def clean(self):
        data = super().clean()
        data["contacts"] = [
            line for line in (data.get("contact_emails") or "").split() if line.strip()
        ]
        if not self.errors:
            try:
                billing_account_check(
                    organization=data["organization"], name=data.get("name", ""),
                    payment_kind=data.get("payment_kind", ""), contacts=data["contacts"],
                )
            except ValidationError as error:
                _add_errors(self, error, {"contacts": "contact_emails"})
        return data


class BillingAccountChangeForm(_ServiceModelForm):
    class Meta:
        model = BillingAccount
        fields = ("name", "payment_kind")

    def clean(self):
        data = super().clean()
        name = (data.get("name") or "").strip()
        taken = BillingAccount.objects.filter(
            organization_id=self.instance.organization_id, name=name
        ).exclude(pk=self.instance.pk)
        if name and taken.exists():
            self.add_error("name", "this organization already has a billing account named "
                                   f"{name!r}")
        return data


class BillingContactInline(admin.TabularInline):
    model = BillingContact
    fields = ("email", "name")
    extra = 1


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "is_default", "payment_kind", "contact_list")
    list_filter = ("payment_kind", "is_default")
    list_select_related = ("organization",)
    search_fields = ("name", "organization__name", "contacts__email")
    inlines = [BillingContactInline]
    actions = ["make_default"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("contacts")

    @admin.display(description="billing contacts")
    def contact_list(self, account):
        return ", ".join(c.email for c in account.contacts.all()) or "-"

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = BillingAccountChangeForm if obj is not None else BillingAccountAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("organization", "name", "payment_kind", "contact_emails")
        return ("organization", "name", "payment_kind", "is_default", "created_at")

    def get_readonly_fields(self, request, obj=None):
        return ("organization", "is_default", "created_at") if obj is not None else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        now = timezone.now()
        if change:
            billing_account_update(billing_account=obj, name=obj.name,
                                   payment_kind=obj.payment_kind, actor=request.user, now=now)
            return
        saved = billing_account_create(
            organization=obj.organization, name=obj.name, payment_kind=obj.payment_kind,
            contacts=form.cleaned_data["contacts"], actor=request.user, now=now,
        )
        _copy_saved(obj, saved)

    def save_formset(self, request, form, formset, change):
        if formset.model is not BillingContact:
            return super().save_formset(request, form, formset, change)
        account, now = form.instance, timezone.now()
        # What formset.save() would have recorded, for the admin's change message.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for contact_form in formset.forms:
            original = contact_form.initial.get("email") if contact_form.instance.pk else None
            if contact_form in formset.deleted_forms:
                if original:
                    billing_contact_remove(billing_account=account, email=original,
                                           actor=request.user, now=now)
                    formset.deleted_objects.append(contact_form.instance)
                continue
            if not contact_form.has_changed():
                continue
            email = contact_form.cleaned_data.get("email")
            if not email:
                continue
            if original and original.lower() != email.lower():
                billing_contact_remove(billing_account=account, email=original,
                                       actor=request.user, now=now)
            contact = billing_contact_add(billing_account=account, email=email,
                                          name=contact_form.cleaned_data.get("name", ""),
                                          actor=request.user, now=now)
            if original:
                formset.changed_objects.append((contact, contact_form.changed_data))
            else:
                formset.new_objects.append(contact)

    @admin.action(description="Make the selected account its organization's default")
    def make_default(self, request, queryset):
        accounts = list(queryset[:2])
        if len(accounts) != 1:
            self.message_user(request, "Select exactly one billing account.", messages.ERROR)
            return
        billing_account_set_default(billing_account=accounts[0], actor=request.user,
                                    now=timezone.now())
        self.message_user(request, f"{accounts[0]} is now the default account.",
                          messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        # Invoices refer to accounts; history is never deleted.
        return False


# --- Projects ---------------------------------------------------------------


class ProjectAddForm(_ServiceModelForm):
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
                _add_errors(self, error)
        return data


class ProjectMoveForm(_ServiceModelForm):
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
                                   now=timezone.now())
            except ValidationError as error:
                _add_errors(self, error, {"billing_account": "move_to",
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
        in_force = ProjectAccountAssignment.objects.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=Now()),
            project=OuterRef("pk"), valid_from__lte=Now(),
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
        now = timezone.now()
        if change:
            if form.cleaned_data.get("move_to") is not None:
                project_move(project=obj, billing_account=form.cleaned_data["move_to"],
                             effective_from=form.cleaned_data.get("move_effective_from"),
                             actor=request.user, now=now)
            return
        saved = project_create(name=obj.name, organization=obj.organization, actor=request.user,
                               now=now, billing_account=form.cleaned_data.get("billing_account"))
        _copy_saved(obj, saved)

    def has_delete_permission(self, request, obj=None):
        return False


# --- Role grants ------------------------------------------------------------


class RoleGrantForm(_ServiceModelForm):
    granter_access = None  # set per request by RoleGrantAdmin.get_form

    class Meta:
        model = RoleGrant
        fields = ("user", "role", "organization", "project")

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                role_grant_check(role=data.get("role"), organization=data.get("organization"),
                                 project=data.get("project"), access=self.granter_access)
            except ValidationError as error:
                _add_errors(self, error)
            except (PermissionDenied, Http404) as refused:
                self.add_error(None, str(refused) or "You may not grant this role here.")
        return data


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "organization", "project", "granted_by", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "organization", "project", "granted_by")
    search_fields = ("user__username", "organization__name", "project__name")
    form = RoleGrantForm
    readonly_fields = ("granted_by", "created_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"granter_access": access_for(request.user)})

    def save_model(self, request, obj, form, change):
        saved = role_grant(user=obj.user, role=obj.role, organization=obj.organization,
                           project=obj.project, granted_by=request.user,
                           access=form.granter_access)
        _copy_saved(obj, saved)

    def has_change_permission(self, request, obj=None):
        # A grant is held or not: revoke it and grant another instead of editing.
        return False

    def _revoke(self, request, grant) -> bool:
        try:
            role_revoke(user=grant.user, role=grant.role, organization=grant.organization,
                        project=grant.project, revoked_by=request.user,
                        access=access_for(request.user))
        except (PermissionDenied, Http404):
            self.message_user(request, f"You may not revoke: {grant}.", messages.ERROR)
            return False
        return True

    def delete_model(self, request, obj):
        self._revoke(request, obj)

    def delete_queryset(self, request, queryset):
        for grant in queryset.select_related("user", "organization", "project"):
            self._revoke(request, grant)


# --- entitlements ----------------------------------------------------------------------

from accounts.models import Entitlement, EntitlementChange  # noqa: E402
from accounts.services import entitlement_end  # noqa: E402


class EntitlementChangeInline(admin.TabularInline):
    model = EntitlementChange
    fields = ("action", "at", "actor", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin):
    """Entitlements are accepted through the API (or by an operator there); here they
    are seen and ended, through the service (proration and feature grants follow)."""

    list_display = ("billing_account", "offer_version", "start", "end")
    list_filter = ("offer_version__offer",)
    list_select_related = ("billing_account__organization", "offer_version__offer")
    readonly_fields = ("billing_account", "offer_version", "start", "end", "created_by")
    inlines = [EntitlementChangeInline]
    actions = ["end_now"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return access_for(request.user).sees_fleet

    def has_view_permission(self, request, obj=None):
        return access_for(request.user).sees_fleet

    def has_change_permission(self, request, obj=None):
        return access_for(request.user).fleet_admin

    @admin.action(description="End the selected entitlements now")
    def end_now(self, request, queryset):
        now = timezone.now()
        for entitlement in queryset:
            entitlement_end(entitlement=entitlement, now=now, actor=request.user)
        messages.info(request, f"{queryset.count()} entitlement(s) ended at {now:%Y-%m-%d %H:%M}"
                      " UTC.")
