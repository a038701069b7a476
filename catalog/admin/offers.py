"""What consumers accept, in the admin: services with their features, and offers.

An offer's content (services, charges, features, duration prices) is edited as
JSON and goes through `offer_create` and `offer_revise`: a version someone
accepted never changes, so editing it makes a new version.
"""

import json
from dataclasses import asdict

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from audit.admin import AuditHistoryMixin
from catalog.admin.base import FleetAdminOnly, KeyedForm
from catalog.models import Feature, Offer, OfferVersion, Service
from catalog.services.offers import (
    OfferContent,
    offer_content_check,
    offer_create,
    offer_revise,
    offer_version_content,
)
from cycles.clock import clock_now

OFFER_REVISED_IN_PLACE = "{offer} v{number} was not accepted yet: it was edited in place."
OFFER_NEW_VERSION = "{offer} v{number} is a new version: accepted versions never change."
OFFER_UNCHANGED = "{offer}: the content is the same as v{number}, nothing changed."
CONTENT_HELP = (
    'JSON: {"services": ["dns"], "charges": [{"model": "per_unit", "name": "DNS queries", '
    '"metric": "dns.queries", "unit_price": "0.0000004", "free_units": "1000000"}, '
    '{"model": "recurring", "name": "Pro plan", "amount": "30.00"}], '
    '"features": [{"feature": "dns.zones", "limit": "25"}], "duration_prices": '
    '[{"metric": "instance", "rate": "0.01", "time_unit": "hour"}]}. Tiers: '
    '[{"up_to": "1000", "unit_price": "0"}, {"up_to": null, "unit_price": "0.01"}].'
)


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
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "cols": 100}),
                              help_text=CONTENT_HELP)
    notes = forms.CharField(required=False, help_text="What changed (kept on the version).")

    class Meta:
        model = Offer
        fields = ("key", "name", "description", "public")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            current = self.instance.versions.order_by("-number").first()
            if current is not None:
                self.fields["content"].initial = json.dumps(
                    asdict(offer_version_content(current)), indent=2)

    def clean_content(self):
        try:
            content = OfferContent(**json.loads(self.cleaned_data["content"]))
        except (ValueError, TypeError) as error:
            raise ValidationError(f"not valid offer content: {error}") from None
        try:
            offer_content_check(content)
        except ValidationError as error:
            raise ValidationError([f"{field}: {' '.join(reasons)}" for field, reasons
                                   in error.message_dict.items()]) from None
        return content


class OfferVersionInline(admin.TabularInline):
    model = OfferVersion
    fields = ("number", "created_at", "accepted_at", "notes", "created_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-number",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Offer)
class OfferAdmin(AuditHistoryMixin, FleetAdminOnly, admin.ModelAdmin):
    """Name, description and visibility change in place; the content (services, charges,
    features, duration prices) goes through `offer_revise`: a version someone accepted
    never changes, so editing it makes a new version."""

    form = OfferForm
    inlines = [OfferVersionInline]
    list_display = ("key", "name", "public")
    list_filter = ("public",)
    search_fields = ("key", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("key",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        # The form checked the content with the service's own checks (clean_content).
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
