"""Who consumes and who pays, inside one provider's schema."""

from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A secret another system presents as `Authorization: Bearer <key>`.

    Only a SHA-256 hash of the secret is kept; the key itself is shown once when
    issued. Keys live in the provider's schema, so a key is only ever found on
    that provider's host.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The public part of the key, used to find its row without scanning hashes.
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) for {self.user}"
