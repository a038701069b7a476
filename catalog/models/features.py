"""Services (what a provider sells: Compute, DNS) and their features: flags and quotas."""

from django.db import models
from django.db.models import Q

from audit.tracking import audited
from core.fields import quantity_field

KEY_HELP = "Lowercase letters, digits, '.', '_' and '-': how the API and events name it."


@audited()
class Service(models.Model):
    """What a provider sells to consumers (Compute, DNS): it has features and metrics."""

    key = models.SlugField(max_length=100, unique=True, help_text=KEY_HELP)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class FeatureKind(models.TextChoices):
    FLAG = "flag", "Flag (on or off)"
    QUOTA = "quota", "Quota (a limit)"


class FeatureScope(models.TextChoices):
    # One counter for the whole billing account (e.g. seats).
    BILLING_ACCOUNT = "billing_account", "Per billing account"
    # One counter per project of the account (e.g. DNS zones per project).
    PROJECT = "project", "Per project"


@audited()
class Feature(models.Model):
    """Something of a service an offer may enable: a flag, or a quota with a limit."""

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="features")
    key = models.CharField(
        max_length=100, unique=True, help_text="e.g. dns.zones; " + KEY_HELP
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=FeatureKind.choices)
    scope = models.CharField(
        max_length=20, choices=FeatureScope.choices, default=FeatureScope.BILLING_ACCOUNT
    )
    default_limit = quantity_field(
        null=True, blank=True, help_text="Quotas: the limit an offer grants unless it says."
    )
    unit = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                name="feature_quota_has_default_limit",
                condition=Q(kind=FeatureKind.FLAG, default_limit__isnull=True)
                | Q(kind=FeatureKind.QUOTA, default_limit__gte=0),
            ),
        ]

    def __str__(self) -> str:
        return self.key
