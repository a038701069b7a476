"""The credits the operator's credits page lists."""

from django.db.models import QuerySet

from core.replica import read_alias
from invoicing.models import Credit


def credit_list() -> QuerySet[Credit]:
    """Every credit, the latest window first."""
    return Credit.objects.using(read_alias()).select_related(
        "organization", "project", "resource", "created_by"
    ).order_by("-window_start", "-id")
