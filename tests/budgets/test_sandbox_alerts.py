"""Budget alerts follow a sandbox's clock: as the clock walks through the month, the
budget check each rating queues runs within its step, so a threshold crossed on the 3rd
alerts at the first step after it (dated then, with the spend then), not when the clock
stops."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from budgets.models import BudgetAlert
from budgets.services import budget_create
from notifications.models import OutboxMessage
from tests.accounts.support import Api
from tests.conftest import inside
from tests.cycles.sandbox import advance, berlin, iso, make_sandbox
from tests.factories import make_org, make_project, make_region, make_resource_type


@pytest.mark.usefixtures("own_media")
def test_thresholds_alert_at_the_step_that_crossed_them(alpha, no_cycles):
    sandbox = make_sandbox(alpha, frozen_at=berlin(2026, 3, 1), grace=timedelta(0),
                           offers=False)
    with inside(sandbox):
        make_resource_type("instance", "Instance", {"4cpu-16gb": "4 CPU, 16 GB Memory"})
        make_region("mars", "Mars")
        project = make_project("adventure", make_org("mars-corp"))
        budget_create(project=project, name="Adventure monthly", amount=Decimal("100"),
                      thresholds=[50, 100], recipient_emails=["fin@mars.example"],
                      actor=get_user_model().objects.get(username="alice"),
                      now=berlin(2026, 3, 1))
    api = Api(sandbox, "alice")
    api.put("/api/v1/system/billing/instance", {"variant": "4cpu-16gb", "rate": "1",
                                                "unit": "hour"})
    api.post("/api/v1/resources/events", {"events": [{
        "event_id": "vm-1-created", "resource_id": "vm-1", "kind": "created",
        "resource_type": "instance", "variant": "4cpu-16gb", "project": "adventure",
        "region": "mars", "occurred_at": iso(berlin(2026, 3, 1))}]})

    advance(api, sandbox, berlin(2026, 3, 8))

    with inside(sandbox):
        alerts = {a.threshold: (a.created_at, a.spend) for a in BudgetAlert.objects.all()}
        emails = sorted(OutboxMessage.objects.values_list("subject", flat=True))
    # $1 an hour from the 1st: 72.00 at the 4th's midnight (50 % was crossed on the 3rd,
    # 02:00), 120.00 at the 6th's (100 % on the 5th, 04:00).
    assert alerts == {50: (berlin(2026, 3, 4), Decimal("72.00")),
                      100: (berlin(2026, 3, 6), Decimal("120.00"))}
    assert len(emails) == 2 and all("Adventure monthly" in s for s in emails)
