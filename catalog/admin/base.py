"""What every catalog admin shares: rights from the role policy, no deletes, and keys
checked the way the services check them."""

from django import forms
from django.core.exceptions import ValidationError

from catalog.services.keys import key_errors


class FleetAdminOnly:
    """Rights come from the role policy (accounts/policy.py, through Django's permission
    checks): fleet admins edit, fleet viewers look. Nobody deletes catalog history:
    prices and usage refer to metrics, variants and regions by key."""

    def has_delete_permission(self, request, obj=None):
        return False


class KeyedForm(forms.ModelForm):
    """Checks `key` the way the services do (the admin writes these rows directly)."""

    def clean_key(self):
        key = (self.cleaned_data.get("key") or "").strip()
        errors = key_errors(key)
        if errors:
            raise ValidationError(errors)
        return key
