"""An offer's content as forms: one row per charge, per tier, per feature and per
duration price, shown as inline tables on the offer's page (never raw JSON).

The rows are assembled into the `OfferContent` that `offer_create` / `offer_revise` take,
and checked by the service's own `offer_content_check`; each reason it gives
(`charges[1].unit_price: must be ...`) is put back on the row and field it names, in words.
Tiers name their charge by its name, listed in ascending order of "up to"; an empty
"up to" is the last, unbounded tier.
"""

import re

from django import forms
from django.core.exceptions import ValidationError
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from catalog.models import (
    Aggregation,
    ChargeModel,
    Feature,
    Metric,
    Service,
    ServiceClass,
    TimeUnit,
)
from catalog.services.offers import OfferContent

NUMBER = {"inputmode": "decimal", "size": 12}
TIER_NAMES_UNKNOWN = "no charge of this offer is named {name!r}"
TIERS_NEED_TIERED_CHARGE = ("tiers belong to graduated or volume charges; {name!r} is "
                            "{model}")
FIELD_WORDS = {
    "unit_price": "Unit price", "package_size": "Package size", "amount": "Amount",
    "free_units": "Free units", "tiers": "Tiers", "metric": "Metric", "service": "Service",
    "name": "Name", "model": "Charge model", "limit": "Limit", "feature": "Feature",
    "rate": "Rate", "time_unit": "Unit of time",
}
_ROW_KEY = re.compile(r"^(charges|features|duration_prices)\[(\d+)\](?:\.(\w+))?$")


def _text(required: bool = False, **attrs) -> forms.CharField:
    return forms.CharField(required=required, max_length=60,
                           widget=UnfoldAdminTextInputWidget(attrs=attrs))


def _choice(choices, required: bool = False) -> forms.ChoiceField:
    return forms.ChoiceField(required=required, choices=choices, widget=UnfoldAdminSelectWidget)


def _metric_choices(duration: bool) -> list[tuple[str, str]]:
    metrics = Metric.objects.order_by("key")
    metrics = (metrics.filter(aggregation=Aggregation.DURATION) if duration
               else metrics.exclude(aggregation=Aggregation.DURATION))
    return [("", "---------")] + [(m.key, f"{m.key} ({m.name})") for m in metrics]


class ChargeRowForm(forms.Form):
    # A blank first choice: an untouched extra row posts nothing and is left out.
    model = _choice([("", "---------"), *ChargeModel.choices], required=True)
    name = _text(required=True, size=24)
    metric = _choice([], required=False)
    service = _choice([], required=False)
    unit_price = _text(**NUMBER)
    package_size = _text(**NUMBER)
    amount = _text(**NUMBER)
    free_units = _text(**NUMBER)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = _metric_choices(duration=False)
        self.fields["metric"].help_text = "Usage charges"
        self.fields["service"].help_text = "Fixed fees"
        self.fields["service"].choices = [("", "---------")] + [
            (key, f"{key} ({name})") for key, name in Service.objects.values_list("key", "name")]

    def content(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items()
                if name != "DELETE" and value not in ("", None)}


class TierRowForm(forms.Form):
    charge = _text(required=True, size=20)
    up_to = _text(**NUMBER)
    unit_price = _text(required=True, **NUMBER)
    flat_fee = _text(**NUMBER)


class FeatureRowForm(forms.Form):
    feature = _choice([], required=True)
    limit = _text(**NUMBER)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["feature"].choices = [("", "---------")] + [
            (f.key, f"{f.key} ({f.name})") for f in Feature.objects.order_by("key")]


class DurationPriceRowForm(forms.Form):
    metric = _choice([], required=True)
    variant = _text(size=14)
    region = _text(size=10)
    service_class = _choice([("", "any")] + list(ServiceClass.choices))
    rate = _text(required=True, **NUMBER)
    time_unit = _choice([("", "---------")] + list(TimeUnit.choices), required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = _metric_choices(duration=True)


def _formset(form, extra: int):
    return forms.formset_factory(form, extra=extra, can_delete=True)


ChargeFormSet = _formset(ChargeRowForm, 2)
TierFormSet = _formset(TierRowForm, 3)
FeatureFormSet = _formset(FeatureRowForm, 1)
DurationPriceFormSet = _formset(DurationPriceRowForm, 1)

FORMSETS = (
    ("charges", ChargeFormSet, "Charges", "One row per charge: usage prices (per unit, "
     "package, graduated, volume, flat) name a metric; fixed fees (one-time, recurring "
     "monthly) name a service."),
    ("tiers", TierFormSet, "Tiers of graduated and volume charges", "Each row names its "
     "charge; rows in ascending order of 'up to' (inclusive); leave 'up to' empty on the "
     "last, unbounded tier. The first tier's flat fee is charged even at zero."),
    ("features", FeatureFormSet, "Features and quotas", "Quotas take a limit; flags none."),
    ("duration_prices", DurationPriceFormSet, "Running-time prices", "Resource types "
     "priced by running time under this offer."),
)


def _kept(formset) -> list[forms.Form]:
    """The filled rows not marked for deletion, in order."""
    return [f for f in formset.forms
            if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")]


def content_initial(content: OfferContent) -> dict[str, list[dict]]:
    """Initial rows of each formset from a version's content."""
    charges, tiers = [], []
    for charge in content.charges:
        row = {k: v for k, v in charge.items() if k != "tiers"}
        charges.append(row)
        for tier in charge.get("tiers") or []:
            tiers.append({"charge": charge["name"], "up_to": tier.get("up_to") or "",
                          "unit_price": tier["unit_price"],
                          "flat_fee": tier.get("flat_fee") or ""})
    features = [{"feature": f["feature"], "limit": f.get("limit") or ""}
                for f in content.features]
    return {"charges": charges, "tiers": tiers, "features": features,
            "duration_prices": list(content.duration_prices)}


class OfferContentForms:
    """The four formsets of an offer's page, bound to the same POST as the offer's form."""

    def __init__(self, data=None, initial: dict | None = None):
        initial = initial or {}
        # Bound, the rows are what was posted: compared with no initial rows, so a row
        # left as it was still counts (and an empty extra row does not).
        self.formsets = {prefix: cls(data, prefix=prefix,
                                     initial=None if data is not None else initial.get(prefix))
                         for prefix, cls, _, _ in FORMSETS}
        self.rows: dict[str, list[forms.Form]] = {}

    def tables(self) -> list[dict]:
        return [{"prefix": prefix, "formset": self.formsets[prefix], "title": title,
                 "help": help_text} for prefix, _, title, help_text in FORMSETS]

    def is_valid(self) -> bool:
        valid = all(fs.is_valid() for fs in self.formsets.values())
        if valid:
            self.rows = {prefix: _kept(fs) for prefix, fs in self.formsets.items()}
        return valid

    def content(self, services: list[str]) -> OfferContent:
        """The OfferContent of the rows; tier rows are put on their charge. ValidationError
        on a tier naming no tiered charge of the offer (put on its row)."""
        charges = [row.content() for row in self.rows["charges"]]
        by_name = {c.get("name"): c for c in charges}
        for row in self.rows["tiers"]:
            data = row.cleaned_data
            charge = by_name.get(data["charge"])
            if charge is None:
                row.add_error("charge", TIER_NAMES_UNKNOWN.format(name=data["charge"]))
                continue
            if charge.get("model") not in (ChargeModel.GRADUATED, ChargeModel.VOLUME):
                row.add_error("charge", TIERS_NEED_TIERED_CHARGE.format(
                    name=data["charge"], model=ChargeModel(charge["model"]).label.lower()))
                continue
            charge.setdefault("tiers", []).append({
                "up_to": data["up_to"] or None, "unit_price": data["unit_price"],
                "flat_fee": data["flat_fee"] or "0"})
        if any(row.errors for row in self.rows["tiers"]):
            raise ValidationError("a tier row is wrong: see the tiers table")
        features = [{"feature": r.cleaned_data["feature"], "limit": r.cleaned_data["limit"] or None}
                    for r in self.rows["features"]]
        prices = [{k: v for k, v in r.cleaned_data.items() if k != "DELETE"}
                  for r in self.rows["duration_prices"]]
        return OfferContent(services=services, charges=charges, features=features,
                            duration_prices=prices)

    def put_reasons(self, reasons: dict[str, list[str]]) -> list[str]:
        """Put the service's reasons (`charges[1].amount`) on the rows they name; returns
        those that name no row (for the offer's own form)."""
        left = []
        for key, messages in reasons.items():
            match = _ROW_KEY.match(key)
            rows = self.rows.get(match.group(1), []) if match else []
            index = int(match.group(2)) if match else -1
            if not match or index >= len(rows):
                left += [f"{FIELD_WORDS.get(key, key.replace('_', ' ').capitalize())}: {m}"
                         for m in messages]
                continue
            row, field = rows[index], match.group(3)
            if field == "tiers" and match.group(1) == "charges":
                name = row.cleaned_data.get("name")
                left += [f"Tiers of {name!r}: {m}" for m in messages]
            elif field in row.fields:
                row.add_error(field, messages)
            else:
                row.add_error(None, [f"{FIELD_WORDS.get(field, field)}: {m}" for m in messages])
        return left

    def errors_anywhere(self) -> bool:
        return any(form.errors for fs in self.formsets.values() for form in fs.forms) or any(
            fs.non_form_errors() for fs in self.formsets.values())
