"""Offers consumers accept, and their versions: a price list, services and features."""

from django.conf import settings
from django.db import models

from audit.tracking import DELETE, INSERT, audited
from catalog.models.features import KEY_HELP, Feature, Service
from catalog.models.prices import PriceList
from core.fields import quantity_field


@audited()
class Offer(models.Model):
    """A bundle of services' prices, features and quotas consumers accept (Free, Pro)."""

    key = models.SlugField(max_length=100, unique=True, help_text=KEY_HELP)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    public = models.BooleanField(
        default=True, help_text="Listed to every consumer; a private offer is accepted "
        "for an account by a fleet admin."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


@audited()
class OfferVersion(models.Model):
    """What an offer was at one time: its price list (kind "offer"), services, features.

    A version accepted by any billing account never changes: revising the offer
    then makes a new version, and entitlements keep pointing at theirs.
    """

    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    price_list = models.OneToOneField(
        PriceList, on_delete=models.PROTECT, related_name="offer_version"
    )
    services = models.ManyToManyField(Service, related_name="offer_versions", blank=True,
                                      through="OfferVersionService")
    notes = models.TextField(blank=True, help_text="What changed in this version.")
    accepted_at = models.DateTimeField(
        null=True, blank=True, help_text="First accepted; from then on the version never changes."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["offer__key", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "number"], name="offer_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.offer.name} v{self.number}"


@audited()
class OfferFeature(models.Model):
    """A feature an offer version enables; quotas carry their limit."""

    version = models.ForeignKey(OfferVersion, on_delete=models.CASCADE, related_name="features")
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="+")
    limit = quantity_field(
        null=True, blank=True, help_text="Quotas; empty: the feature's default limit."
    )

    class Meta:
        ordering = ["feature__key"]
        constraints = [
            models.UniqueConstraint(fields=["version", "feature"],
                                    name="offer_feature_unique_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.version}: {self.feature.key}"


# Which services a version covers is offer content too: a plan change ends the active
# entitlements that share a service with the new version.
@audited(events=(INSERT, DELETE))
class OfferVersionService(models.Model):
    """A service an offer version covers. The table Django made for `services`, given a
    model (migration catalog/0004) so that its rows are audited like the rest of the
    version's content."""

    offerversion = models.ForeignKey(OfferVersion, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")

    class Meta:
        db_table = "catalog_offerversion_services"
        # The table's constraint as Django made it (unique_together, not a named one).
        unique_together = [("offerversion", "service")]

    def __str__(self) -> str:
        return f"{self.offerversion_id}: {self.service_id}"
