"""Reads for accounts."""

from django.db.models import QuerySet

from accounts.models import ApiKey


def api_key_list_for_user(*, user) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")
