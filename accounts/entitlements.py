"""Entitlements: a billing account accepting an offer version and ending it, and the
feature grants its active entitlements give it."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from accounts.models import BillingAccount, Entitlement, FeatureGrant, PrivateOfferConsumer
from accounts.quota_cache import quota_cache_invalidate
from audit.context import audit_note, records_actor
from catalog.models import FeatureKind, OfferVersion
from catalog.services.offers import offer_version_mark_accepted
from core.errors import Conflict
from cycles.guard import cycle_guard
from cycles.services import cycles_ensure_for

OFFER_NOT_FOUND = "no offer {offer!r}"
OFFER_VERSION_NOT_FOUND = "offer {offer!r} has no version {number}"
OFFER_PRIVATE = ("offer {offer!r} is private: a fleet admin accepts it for an account, unless "
                 "it is made for the account's organization")
ALREADY_ENTITLED = (
    "billing account {account!r} already has an active entitlement to {offer!r} "
    "(since {since}): end it first to change version"
)
ENDED_AT_START = "an entitlement cannot end at the instant it starts"
NOT_AHEAD = "must not be later than now: dating is for history, not for scheduling"
REPLACED_BY = "replaced by {offer} (same service)"
# An entitlement ending at an instant bills up to it: the month of the instant before.
_JUST_BEFORE = timedelta(microseconds=1)


@records_actor()
def entitlement_accept(*, billing_account: BillingAccount, offer_key: str, now: datetime,
                       actor=None, version_number: int | None = None,
                       allow_private: bool = False, at: datetime | None = None) -> Entitlement:
    """The account accepts an offer (its latest version unless `version_number`):
    an entitlement active from `at` (an earlier instant, to import history: refused
    before the billing start or in a finalized cycle) or else from `now`. An active
    entitlement sharing a service with it is ended at the same instant (a plan
    change). Its features and quotas are granted at once; the version is marked
    accepted and never changes again. The month it starts in gets its cycle.
    """
    start = now if at is None else at
    if start > now:
        raise ValidationError({"accepted_at": [NOT_AHEAD]})
    with transaction.atomic():
        cycle_guard(start, field="accepted_at")
        # The account row serializes accepting and ending for one account.
        BillingAccount.objects.select_for_update().get(pk=billing_account.pk)
        versions = OfferVersion.objects.select_for_update(of=("self",)).select_related(
            "offer").filter(offer__key=offer_key).order_by("-number")
        if version_number is not None:
            versions = versions.filter(number=version_number)
        version = versions.first()
        if version is None:
            message = (OFFER_NOT_FOUND.format(offer=offer_key) if version_number is None
                       else OFFER_VERSION_NOT_FOUND.format(offer=offer_key,
                                                           number=version_number))
            raise ValidationError({"offer": [message]})
        if not version.offer.public and not allow_private and not (
                PrivateOfferConsumer.objects.filter(
                    offer_id=version.offer_id,
                    organization_id=billing_account.organization_id).exists()):
            raise ValidationError({"offer": [OFFER_PRIVATE.format(offer=offer_key)]})
        active = list(
            Entitlement.objects.select_for_update(of=("self",))
            .filter(Q(end__isnull=True) | Q(end__gt=start), billing_account=billing_account)
            .select_related("offer_version__offer").prefetch_related("offer_version__services")
        )
        for entitlement in active:
            if entitlement.offer_version.offer_id == version.offer_id:
                raise Conflict({"offer": [ALREADY_ENTITLED.format(
                    account=billing_account.name, offer=offer_key,
                    since=entitlement.start.isoformat())]})
        services = set(version.services.values_list("pk", flat=True))
        for entitlement in active:
            shared = {s.pk for s in entitlement.offer_version.services.all()} & services
            if shared and entitlement.start < start:
                _end(entitlement, now=start, note=REPLACED_BY.format(offer=version.offer.name))
        entitlement = Entitlement.objects.create(
            billing_account=billing_account, offer_version=version, start=start,
            created_by=actor
        )
        offer_version_mark_accepted(version=version, now=now)
        cycles_ensure_for(instants=[start], now=now)
        _grants_sync(billing_account.pk, now=now)
    return entitlement


def _end(entitlement: Entitlement, *, now: datetime, note: str = "") -> None:
    """End at `now`; the audit log records the update (and `note`, why, in its context)."""
    if note:
        audit_note(note)
    Entitlement.objects.filter(pk=entitlement.pk).update(end=now)
    entitlement.end = now


@records_actor()
def entitlement_end(*, entitlement: Entitlement, now: datetime, actor=None,
                    at: datetime | None = None) -> Entitlement:
    """End an entitlement at `at` (an earlier instant, to import history) or else at
    `now`, at once: recurring charges prorate to this instant and its features stop.
    Ending an ended entitlement changes nothing."""
    end = now if at is None else at
    if end > now:
        raise ValidationError({"ended_at": [NOT_AHEAD]})
    with transaction.atomic():
        BillingAccount.objects.select_for_update().get(pk=entitlement.billing_account_id)
        entitlement = Entitlement.objects.select_related("offer_version__offer").get(
            pk=entitlement.pk)
        if entitlement.end is not None and entitlement.end <= end:
            return entitlement
        if end <= entitlement.start:
            raise Conflict({"entitlement": [ENDED_AT_START]})
        cycle_guard(end, field="ended_at")
        _end(entitlement, now=end)
        cycles_ensure_for(instants=[end - _JUST_BEFORE], now=now)
        _grants_sync(entitlement.billing_account_id, now=now)
    return entitlement


def _grants_sync(billing_account_id: int, *, now: datetime) -> None:
    """Make the account's feature grants say what its active entitlements enable."""
    # The entitlement's end and the stale grants change by bulk update (no signals).
    quota_cache_invalidate()
    wanted: dict[int, tuple[int, Decimal | None]] = {}
    active = Entitlement.objects.filter(
        Q(end__isnull=True) | Q(end__gt=now), billing_account_id=billing_account_id,
        start__lte=now,
    ).prefetch_related("offer_version__features__feature").order_by("start", "id")
    for entitlement in active:
        for granted in entitlement.offer_version.features.all():
            feature = granted.feature
            limit = None
            if feature.kind == FeatureKind.QUOTA:
                limit = granted.limit if granted.limit is not None else feature.default_limit
            wanted[feature.pk] = (entitlement.pk, limit)
    existing = {g.feature_id: g for g in FeatureGrant.objects.select_for_update().filter(
        billing_account_id=billing_account_id)}
    for feature_id, (entitlement_id, limit) in wanted.items():
        FeatureGrant.objects.update_or_create(
            billing_account_id=billing_account_id, feature_id=feature_id,
            defaults={"entitlement_id": entitlement_id, "enabled": True, "limit": limit,
                      "updated_at": now},
        )
    stale = [fid for fid in existing if fid not in wanted]
    if stale:
        FeatureGrant.objects.filter(billing_account_id=billing_account_id,
                                    feature_id__in=stale).update(
            enabled=False, entitlement=None, limit=Decimal(0), updated_at=now)
