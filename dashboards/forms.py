"""Forms of the dashboards. They only parse input: the rules live in the services
(`invoicing.credits.credit_create`, `accounts.services.entitlement_accept`), whose
ValidationError reasons are put back on the form's fields."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import BillingAccount, Organization, Project
from metering.models import Resource
from tenancy.selectors import provider_current

ZONE_HELP = "In {zone}, e.g. 2026-03-14 23:00."
TIME_DOES_NOT_EXIST = ("{text} does not exist in {zone} (the clocks skip it for daylight "
                       "saving time): give another time")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                    "%Y-%m-%d %H:%M:%S"]


class ZoneDateTimeField(forms.DateTimeField):
    """A date and time typed in the provider's billing zone (a `datetime-local` input,
    the zone named in its help), returned aware in UTC."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", DATETIME_FORMATS)
        super().__init__(**kwargs)

    def zone(self) -> str:
        return provider_current().billing_timezone

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        zone = self.zone()
        for fmt in self.input_formats:
            try:
                naive = datetime.strptime(text, fmt)
            except ValueError:
                continue
            local = naive.replace(tzinfo=ZoneInfo(zone))
            # A skipped local time does not survive the round trip through UTC.
            if local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) != naive:
                raise ValidationError(TIME_DOES_NOT_EXIST.format(text=text, zone=zone))
            return local.astimezone(UTC)
        raise ValidationError(self.error_messages["invalid"], code="invalid")


class CreditForm(forms.Form):
    """An SLA credit: a window and one scope (organization, project or resource)."""

    SCOPES = [("organization", "Organization"), ("project", "Project"),
              ("resource", "One resource")]

    name = forms.CharField(max_length=200)
    window_start = ZoneDateTimeField(label="Window start")
    window_end = ZoneDateTimeField(label="Window end")
    scope = forms.ChoiceField(choices=SCOPES, initial="project")
    # Names, not drop-downs: a fleet may have thousands of organizations and projects.
    organization = forms.SlugField(max_length=100, required=False,
                                   help_text="Its name, for an organization credit.")
    project = forms.SlugField(max_length=100, required=False,
                              help_text="Its name, for a project credit.")
    resource = forms.CharField(max_length=200, required=False,
                               help_text="The resource id, for a one-resource credit.")
    region = forms.CharField(max_length=100, required=False, help_text="Empty: every region.")
    resource_type = forms.CharField(max_length=100, required=False,
                                    help_text="Empty: every resource type.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="Printed on the invoice: why the credit is given.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zone = provider_current().billing_timezone
        for name in ("window_start", "window_end"):
            self.fields[name].help_text = ZONE_HELP.format(zone=zone)

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope == "organization":
            found = Organization.objects.filter(name=data.get("organization") or "").first()
            if found is None:
                self.add_error("organization", "No organization with this name.")
            data["organization_obj"] = found
        if scope == "project":
            found = Project.objects.filter(name=data.get("project") or "").first()
            if found is None:
                self.add_error("project", "No project with this name.")
            data["project_obj"] = found
        if scope == "resource":
            resource = Resource.objects.filter(resource_id=data.get("resource") or "").first()
            if resource is None:
                self.add_error("resource", "No resource with this id.")
            data["resource_obj"] = resource
        return data

    def service_arguments(self) -> dict:
        """The keyword arguments of `credit_create` (the one scope chosen)."""
        data = self.cleaned_data
        scope = data["scope"]
        return {
            "name": data["name"], "description": data["description"],
            "window_start": data["window_start"], "window_end": data["window_end"],
            "organization": data.get("organization_obj") if scope == "organization" else None,
            "project": data.get("project_obj") if scope == "project" else None,
            "resource": data.get("resource_obj") if scope == "resource" else None,
            "region": data.get("region") or "", "metric_key": data.get("resource_type") or "",
        }

    def add_service_errors(self, error: ValidationError) -> None:
        names = {"resource_type": "resource_type", "scope": "scope"}
        for field, reasons in error.message_dict.items():
            field = names.get(field, field)
            self.add_error(field if field in self.fields else None, reasons)


class OfferAcceptForm(forms.Form):
    """Accept a public offer for one of the organization's billing accounts."""

    billing_account = forms.ModelChoiceField(queryset=BillingAccount.objects.none(),
                                             empty_label=None)

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["billing_account"].queryset = BillingAccount.objects.filter(
            organization=organization).order_by("-is_default", "name")


class BudgetForm(forms.Form):
    """A monthly budget set from the organization or project page. The amount and
    thresholds are checked by `budgets.services.budget_create`, whose reasons come back
    on these fields."""

    name = forms.CharField(max_length=100)
    amount = forms.DecimalField(min_value=0, max_digits=20, decimal_places=2)
    thresholds = forms.CharField(initial="50, 80, 100", help_text="Percent, comma separated.")
    notify_me = forms.BooleanField(required=False, initial=True,
                                   label="Email me when a threshold is crossed")
    emails = forms.CharField(required=False, label="Also email",
                             help_text="Addresses, comma separated.")
    webhook_url = forms.CharField(required=False, max_length=500)
    webhook_secret = forms.CharField(required=False, max_length=200)

    def clean_thresholds(self) -> list[int]:
        try:
            return [int(part) for part in self.cleaned_data["thresholds"].replace(" ", "")
                    .split(",") if part]
        except ValueError:
            raise ValidationError("Whole percents, comma separated: 50, 80, 100.") from None

    def clean_emails(self) -> list[str]:
        return [e.strip() for e in self.cleaned_data["emails"].split(",") if e.strip()]
