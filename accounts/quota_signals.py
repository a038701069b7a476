"""Every save or delete of a row the entitlement check reads bumps the provider's
quota-cache version after commit (accounts/quota_cache.py), and of a row API-key
authentication reads, its auth version (accounts/api_key_cache.py). Receivers on the
models, not calls in each service, so an admin form or a new service cannot forget; the
services' bulk updates and bulk creates (which send no signals) invalidate themselves,
and tests/accounts/test_quota_cache.py and test_api_key_cache.py hold the writes to it."""

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save

from accounts.api_key_cache import auth_cache_invalidate
from accounts.models import (
    ApiKey,
    Entitlement,
    FeatureGrant,
    Project,
    ProjectAccountAssignment,
    RoleGrant,
)
from accounts.quota_cache import quota_cache_invalidate
from catalog.models import Feature, Offer, OfferFeature, OfferVersion
from catalog.signals import offer_content_changed

# What a check reads (project, assignment, grant and its entitlement, feature) and
# what grants are made from (offers, their versions and features).
WATCHED = (Project, ProjectAccountAssignment, Entitlement, FeatureGrant, Feature, Offer,
           OfferVersion, OfferFeature)


def _changed(**_kwargs) -> None:
    quota_cache_invalidate()


def _auth_changed(**_kwargs) -> None:
    auth_cache_invalidate()


def connect() -> None:
    # What API-key authentication reads (accounts/api_key_cache.py).
    for model in (ApiKey, RoleGrant, get_user_model()):
        post_save.connect(_auth_changed, sender=model, dispatch_uid=f"auth-cache-save-{model}")
        post_delete.connect(_auth_changed, sender=model,
                            dispatch_uid=f"auth-cache-del-{model}")
    for model in WATCHED:
        post_save.connect(_changed, sender=model, dispatch_uid=f"quota-cache-save-{model}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"quota-cache-del-{model}")
    m2m_changed.connect(_changed, sender=OfferVersion.services.through,
                        dispatch_uid="quota-cache-offer-services")
    offer_content_changed.connect(_changed, dispatch_uid="quota-cache-offer-content")
