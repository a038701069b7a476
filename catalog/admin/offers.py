"""What consumers accept, in the admin: services with their features, and offers.

An offer's content (services, charges, tiers, features, running-time prices) is edited
in tables of rows on the offer's page (catalog/admin/offer_forms.py) and goes through
`offer_create` and `offer_revise`: a version someone accepted never changes, so editing
it makes a new version. Before a new version is saved, a higher layer may show its impact
on the open cycle (catalog/previews.py).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminTextInputWidget

from audit.admin import AuditHistoryMixin
from catalog.admin.base import FleetAdminOnly, KeyedForm
from catalog.admin.offer_forms import OfferContentForms, content_initial
from catalog.models import Feature, Offer, Service
from catalog.previews import offer_version_impact, previews_available
from catalog.services.offers import (
    offer_content_check,
    offer_create,
    offer_revise,
    offer_version_content,
)
from core.timefmt import datetime_text
from cycles.clock import clock_now
from tenancy.selectors import provider_current

OFFER_REVISED_IN_PLACE = "{offer} v{number} was not accepted yet: it was edited in place."
OFFER_NEW_VERSION = "{offer} v{number} is a new version: accepted versions never change."
OFFER_UNCHANGED = "{offer}: the content is the same as v{number}, nothing changed."
ROWS_WRONG = "Some rows below are wrong: each says why."
REVIEW_IMPACT = ("Review the impact on the open cycle below, then press \"Confirm and save\" "
                 "to save the new version.")


class ServiceForm(KeyedForm):
    class Meta:
        model = Service
        fields = ("key", "name", "description")


class FeatureInline(FleetAdminOnly, admin.TabularInline):
    model = Feature
    fields = ("key", "name", "kind", "scope", "default_limit", "unit")
    extra = 1
    can_delete = False


@admin.register(Service)
class ServiceAdmin(FleetAdminOnly, admin.ModelAdmin):
    form = ServiceForm
    inlines = [FeatureInline]
    list_display = ("key", "name")
    search_fields = ("key", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("key",) if obj is not None else ()


class OfferForm(forms.ModelForm):
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.order_by("key"), to_field_name="key",
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="The services this offer bundles; its charges and features belong to them.")
    notes = forms.CharField(required=False, help_text="What changed (kept on the version).",
                            widget=UnfoldAdminTextInputWidget(attrs={"size": 60}))

    # Set by OfferAdmin.get_form: who asks (the preview rates as them).
    request = None

    class Meta:
        model = Offer
        fields = ("key", "name", "description", "public")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        initial = {}
        self.current = None
        if self.instance.pk:
            self.current = self.instance.versions.order_by("-number").first()
        if self.current is not None:
            content = offer_version_content(self.current)
            self.fields["services"].initial = content.services
            initial = content_initial(content)
        self.content_forms = OfferContentForms(self.data if self.is_bound else None,
                                               initial=initial)
        self.impact = None

    def clean(self):
        data = super().clean()
        if not self.content_forms.is_valid():
            raise ValidationError(ROWS_WRONG)
        services = [s.key for s in data.get("services") or []]
        try:
            content = self.content_forms.content(services)
            offer_content_check(content)
        except ValidationError as invalid:
            reasons = getattr(invalid, "error_dict", None) and invalid.message_dict
            left = self.content_forms.put_reasons(reasons) if reasons else []
            if reasons and "services" in reasons:
                self.add_error("services", reasons["services"])
            raise ValidationError(left or [ROWS_WRONG]) from None
        data["content"] = content
        self._gate_on_impact(data)
        return data

    def _gate_on_impact(self, data) -> None:
        """A change of a published offer's content is saved once its impact was seen."""
        if (self.current is None or not previews_available()
                or self.data.get("_confirmed") == "yes"):
            return
        self.impact = offer_version_impact(offer=self.instance, content=data["content"],
                                           actor=getattr(self.request, "user", None),
                                           now=clock_now())

    def is_valid(self) -> bool:
        # A change waiting for its impact to be seen is not wrong: it has no error (so the
        # page shows no "Please correct the errors below"), it is just not saved yet.
        return super().is_valid() and self.impact is None

    @property
    def impact_prompt(self) -> str:
        return REVIEW_IMPACT if self.impact is not None else ""


@admin.register(Offer)
class OfferAdmin(AuditHistoryMixin, FleetAdminOnly, admin.ModelAdmin):
    """Name, description and visibility change in place; the content (services, charges,
    features, duration prices) goes through `offer_revise`: a version someone accepted
    never changes, so editing it makes a new version."""

    form = OfferForm
    list_display = ("key", "name", "public")
    list_filter = ("public",)
    search_fields = ("key", "name")
    change_form_template = "admin/catalog/offer/change_form.html"
    fields = ("key", "name", "description", "public", "services", "notes")

    def get_readonly_fields(self, request, obj=None):
        return ("key", "versions_shown") if obj is not None else ()

    def get_fields(self, request, obj=None):
        return (*self.fields, "versions_shown") if obj is not None else self.fields

    @admin.display(description="versions")
    def versions_shown(self, obj):
        # Read-only history, shown as text: a formset here would have to be posted back.
        zone = provider_current().billing_timezone
        rows = [(v.number, datetime_text(v.created_at, zone),
                 "accepted" if v.accepted_at else "not accepted yet", v.notes)
                for v in obj.versions.order_by("-number")]
        return format_html_join(mark_safe("<br>"), "v{} · created {} · {} {}", rows)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def save_model(self, request, obj, form, change):
        # The form checked the content with the service's own checks (OfferForm.clean).
        content, notes, now = form.cleaned_data["content"], form.cleaned_data["notes"], (
            clock_now())
        if not change:
            version = offer_create(key=obj.key, name=obj.name, description=obj.description,
                                   public=obj.public, content=content, now=now,
                                   actor=request.user)
            obj.pk = version.offer_id
            return
        obj.save()
        before = obj.versions.order_by("-number").first()
        version = offer_revise(offer=obj, content=content, now=now, actor=request.user,
                               notes=notes)
        if version.pk != before.pk:
            message = OFFER_NEW_VERSION
        elif before.accepted_at is None:
            message = OFFER_REVISED_IN_PLACE
        else:
            message = OFFER_UNCHANGED
        messages.info(request, message.format(offer=obj.name, number=version.number))
