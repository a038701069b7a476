"""What the accounts admin forms share: a service's refusals shown on the form, and the
object the service saved handed back to the admin."""

from django import forms
from django.core.exceptions import ValidationError


def add_errors(form: forms.Form, error: ValidationError, renames: dict[str, str] | None = None):
    """Put a service's ValidationError on the form's fields (unknown fields: the form)."""
    renames = renames or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.message_dict.items():
        target = renames.get(field, field)
        form.add_error(target if target in form.fields else None, errors)


def copy_saved(obj, saved) -> None:
    """The admin expects `obj` itself saved: take over what the service wrote."""
    obj.pk = saved.pk
    obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})
    obj._state.adding, obj._state.db = False, saved._state.db


class ServiceModelForm(forms.ModelForm):
    """A model form whose writes a service makes (and checks)."""

    def validate_unique(self):
        # Uniqueness and constraints are checked by the services, with clearer messages.
        pass
