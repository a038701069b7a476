"""When the last rating of a cycle can be incremental: what changed since its last run.

A rating run rewrites every draft of a cycle from its inputs. When the cycle was
already rated up to its end, running time can no longer grow, so the only things
that change a draft are: usage or lifecycle events received since (the incremental
run finds those per project, `rating_run(usage_since=...)`), and the priced inputs:
prices, charges, offers, services, billing accounts, project moves, entitlements and
credits. Those are all audited (audit/tracking.py), so their audit events say, in one
query, whether any changed since the run; if one did, the run is full.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from audit.models import AuditEvent
from cycles.models import BillingCycle
from invoicing.models import RatingRun
from tenancy.models import BillingMode
from tenancy.selectors import provider_current

# Ingestion batches and catalog writes in flight when the last run read its inputs are
# stamped before it and committed after it: looking back this far takes them in again
# (settings.TALLY_RATING_IN_FLIGHT_SECONDS, 600 unless set).
IN_FLIGHT_SECONDS = 600


def in_flight_margin() -> timedelta:
    return timedelta(seconds=getattr(settings, "TALLY_RATING_IN_FLIGHT_SECONDS",
                                     IN_FLIGHT_SECONDS))

# The audited models a rating reads (app labels, or app.Model labels).
PRICED_APPS = ("catalog",)
PRICED_MODELS = ("accounts.BillingAccount", "accounts.ProjectAccountAssignment",
                 "accounts.Entitlement", "invoicing.Credit")


def rating_incremental_since(*, cycle: BillingCycle) -> datetime | None:
    """The `usage_since` that makes the next rating of `cycle` incremental and exact,
    or None when it must be full: never rated to its end, a provider selling offers
    (always rated in full), or a priced input changed since that run."""
    if provider_current().billing_mode == BillingMode.OFFERS:
        return None
    last = (RatingRun.objects.filter(cycle=cycle, rated_until__gte=cycle.end,
                                     recorded_at__isnull=False)
            .order_by("-recorded_at").first())
    if last is None:
        return None
    priced = Q(pgh_obj_model__in=PRICED_MODELS)
    for app in PRICED_APPS:
        priced |= Q(pgh_obj_model__startswith=f"{app}.")
    margin = in_flight_margin()
    changed = AuditEvent.objects.filter(
        priced, pgh_created_at__gte=last.recorded_at - margin
    ).exists()
    return None if changed else last.started_at - margin
