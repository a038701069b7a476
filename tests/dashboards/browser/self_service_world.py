"""What the self-service browser tests see in provider delta, a provider that sells
offers, built around the real "now":

- the Datum-like catalog (tests/offers_world.py): offers Free, Pro ($49 onboarding once,
  $30 a month, DNS queries graduated, instances at $0.01 an hour), Enterprise (private)
- acme with project acme-web on account Main, on Pro since this month's first instant,
  one instance running since then and some DNS queries; this month open, rated to now
- users: ann (org admin of acme, ann@acme.test), pat (project billing viewer of
  acme-web, pat@acme.test)
"""

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.entitlements import entitlement_accept
from accounts.models import Role, RoleGrant
from catalog.models import Metric
from cycles.services import cycles_ensure
from invoicing.rating_run import rating_run
from metering.usage_ingest import usage_events_ingest
from tests.conftest import PASSWORD
from tests.invoicing.builders import run_resource
from tests.offers_world import datum_catalog, make_consumer


def build_self_service_world() -> None:
    now = timezone.now()
    datum_catalog()
    acme = make_consumer("acme")
    cycle = cycles_ensure(now=now)
    entitlement_accept(billing_account=acme.account, offer_key="pro", now=now, at=cycle.start)
    run_resource("vm-acme", Metric.objects.get(key="instance"), "2cpu-8gb", acme.project,
                 since=cycle.start)
    usage_events_ingest(items=[{
        "event_id": "q-1", "metric": "dns.queries", "project": acme.project.name,
        "occurred_at": cycle.start.isoformat(), "value": "3000000", "attributes": {}}],
        now=now)
    rating_run(cycle=cycle, now=now)
    users = get_user_model().objects
    ann = users.create_user(username="ann", password=PASSWORD, email="ann@acme.test")
    RoleGrant.objects.create(user=ann, role=Role.ORG_ADMIN, organization=acme.org)
    pat = users.create_user(username="pat", password=PASSWORD, email="pat@acme.test")
    RoleGrant.objects.create(user=pat, role=Role.PROJECT_BILLING_VIEWER, project=acme.project)
