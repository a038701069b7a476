"""Writes for SLA credits: create and withdraw, never inside a finalized cycle.

The amounts are not stored here: every rating run computes them from the
credit's window and scope (invoicing/domain/credit_lines.py), so a credit
created mid-cycle shows on the draft at the next run. Adding one emails the people of
its scope who want to hear (invoicing/credit_email.py).
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.context import records_actor
from catalog.models import Metric, Region
from cycles.guard import cycle_guard
from cycles.services import cycles_ensure_for
from invoicing.credit_email import credit_added_email_queue
from invoicing.models import Credit, CreditScope

NAME_REQUIRED = "a credit needs a name: it is printed on the invoice"
DESCRIPTION_REQUIRED = "a credit needs a description: it says why on the invoice"
WINDOW_NAIVE = "give the instant with its UTC offset, e.g. 2020-10-15T23:00:00Z"
WINDOW_ORDER = "the window must end after it starts"
ONE_SCOPE = "name exactly one of organization, project or resource"
UNKNOWN_REGION = "no region {key!r} in the catalog"
UNKNOWN_TYPE = "no resource type {key!r} in the catalog"


@records_actor()
def credit_create(
    *,
    name: str,
    description: str,
    window_start: datetime,
    window_end: datetime,
    organization=None,
    project=None,
    resource=None,
    region: str = "",
    metric_key: str = "",
    actor=None,
    now: datetime | None = None,
) -> Credit:
    """A credit of the time its scope ran in `[window_start, window_end)`. Refused
    when the window starts before the billing start or in a finalized cycle
    (cycles.guard); with `now`, the month of its start gets its cycle."""
    errors: dict[str, list[str]] = {}
    name, description = (name or "").strip(), (description or "").strip()
    if not name:
        errors["name"] = [NAME_REQUIRED]
    if not description:
        errors["description"] = [DESCRIPTION_REQUIRED]
    for field, value in (("window_start", window_start), ("window_end", window_end)):
        if value is None or value.tzinfo is None:
            errors[field] = [WINDOW_NAIVE]
    if not errors.get("window_start") and not errors.get("window_end"):
        if window_end <= window_start:
            errors["window_end"] = [WINDOW_ORDER]
    targets = [t for t in (organization, project, resource) if t is not None]
    if len(targets) != 1:
        errors["scope"] = [ONE_SCOPE]
    if region and not Region.objects.filter(key=region).exists():
        errors["region"] = [UNKNOWN_REGION.format(key=region)]
    if metric_key and not Metric.objects.filter(key=metric_key).exists():
        errors["resource_type"] = [UNKNOWN_TYPE.format(key=metric_key)]
    if errors:
        raise ValidationError(errors)
    scope = (CreditScope.ORGANIZATION if organization is not None
             else CreditScope.PROJECT if project is not None else CreditScope.RESOURCE)
    with transaction.atomic():
        cycle_guard(window_start, field="window_start")
        if now is not None:
            cycles_ensure_for(instants=[window_start], now=now)
        credit = Credit.objects.create(
            name=name, description=description, window_start=window_start,
            window_end=window_end, scope=scope, organization=organization, project=project,
            resource=resource, region=region, metric_key=metric_key, created_by=actor,
        )
        # In the credit's transaction: the outbox sends after it commits, or never.
        credit_added_email_queue(credit=credit)
        return credit


def credit_withdraw(*, credit: Credit) -> None:
    """Remove a credit while its window is still in open cycles."""
    with transaction.atomic():
        cycle_guard(credit.window_start, field="window_start")
        Credit.objects.filter(pk=credit.pk).delete()
