"""Admin of organizations, their billing accounts and the accounts' billing contacts."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery

from accounts.admin.service_forms import ServiceModelForm, add_errors, copy_saved
from accounts.models import BillingAccount, BillingContact, Organization, PaymentKind
from accounts.organizations import (
    billing_account_check,
    billing_account_create,
    billing_account_set_default,
    billing_account_update,
    billing_contact_add,
    billing_contact_remove,
    organization_check,
    organization_create,
    organization_update,
)
from audit.admin import AuditHistoryMixin
from cycles.clock import clock_now


class OrganizationAddForm(ServiceModelForm):
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
                add_errors(self, error)
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
        now = clock_now()
        if change:
            organization_update(organization=obj, display_name=obj.display_name,
                                actor=request.user, now=now)
            return
        saved = organization_create(
            name=obj.name, display_name=obj.display_name, actor=request.user, now=now,
            billing_account_name=form.cleaned_data.get("billing_account_name") or None,
            payment_kind=form.cleaned_data["payment_kind"],
        )
        copy_saved(obj, saved)

    def has_delete_permission(self, request, obj=None):
        # Invoices and projects refer to organizations; history is never deleted.
        return False


# --- Billing accounts -------------------------------------------------------


class BillingAccountAddForm(ServiceModelForm):
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
                add_errors(self, error, {"contacts": "contact_emails"})
        return data


class BillingAccountChangeForm(ServiceModelForm):
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
class BillingAccountAdmin(AuditHistoryMixin, admin.ModelAdmin):
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
        now = clock_now()
        if change:
            billing_account_update(billing_account=obj, name=obj.name,
                                   payment_kind=obj.payment_kind, actor=request.user, now=now)
            return
        saved = billing_account_create(
            organization=obj.organization, name=obj.name, payment_kind=obj.payment_kind,
            contacts=form.cleaned_data["contacts"], actor=request.user, now=now,
        )
        copy_saved(obj, saved)

    def save_formset(self, request, form, formset, change):
        if formset.model is not BillingContact:
            return super().save_formset(request, form, formset, change)
        account, now = form.instance, clock_now()
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
                                    now=clock_now())
        self.message_user(request, f"{accounts[0]} is now the default account.",
                          messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        # Invoices refer to accounts; history is never deleted.
        return False
