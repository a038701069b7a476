"""Which months get a cycle, and in which order they close: a resource imported as running
since October 2020 bills every month since (each made by the carry-over), a month
nobody bills gets none, and closing numbers invoices in cycle order."""

from datetime import UTC, datetime
from decimal import Decimal

from cycles.models import BillingCycle, CycleStatus
from invoicing.jobs import close_due_cycles, cycles_carry_over, rate_open_cycles
from invoicing.models import Invoice
from metering.lifecycle_ingest import lifecycle_events_ingest
from tests.conftest import inside
from tests.factories import make_org, make_project
from tests.invoicing.builders import seed_catalog, seed_prices

NOW = datetime(2021, 1, 15, 12, tzinfo=UTC)


def _event(event_id, resource_id, kind, at, project="adventure"):
    return {"event_id": event_id, "resource_id": resource_id, "kind": kind,
            "resource_type": "instance", "variant": "4cpu-16gb", "project": project,
            "region": "mars", "occurred_at": at}


def _world(beta):
    BillingCycle.objects.all().delete()
    instance, disk = seed_catalog()
    seed_prices(instance, disk, valid_from=datetime(2020, 1, 1, tzinfo=UTC))
    make_project("adventure", make_org("mars-corp"))
    make_project("telescope", make_org("venus-corp"))


def _labels() -> list[str]:
    return list(BillingCycle.objects.order_by("start").values_list("label", flat=True))


def test_a_resource_still_running_bills_every_month_since_and_closes_oldest_first(beta):
    with inside(beta):
        _world(beta)
        result = lifecycle_events_ingest(items=[
            _event("a", "vm-a", "created", "2020-10-01T00:00:00Z"),
            # Deleted at midnight on 1 November: billed in October only.
            _event("b1", "vm-b", "created", "2020-10-01T00:00:00Z", "telescope"),
            _event("b2", "vm-b", "deleted", "2020-11-01T00:00:00Z", "telescope"),
        ], now=NOW)
        assert result.accepted == 3
        assert _labels() == ["2020-10"]  # only the month the events bill

        rate_open_cycles(now=NOW)
        # The current month, and each month vm-a still ran into.
        assert _labels() == ["2020-10", "2020-11", "2020-12", "2021-01"]

        closed = close_due_cycles(now=NOW)
        assert [r.cycle for r in closed] == ["2020-10", "2020-11", "2020-12"]
        numbers = list(Invoice.objects.exclude(number=None).order_by("sequence").values_list(
            "cycle__label", "billing_account__organization__name", "number"))
        assert numbers == [
            ("2020-10", "mars-corp", "BETA-000001"), ("2020-10", "venus-corp", "BETA-000002"),
            ("2020-11", "mars-corp", "BETA-000003"), ("2020-12", "mars-corp", "BETA-000004")]
        november = Invoice.objects.get(cycle__label="2020-11")
        assert november.total == Decimal(30 * 1440) * Decimal("0.10")
        assert BillingCycle.objects.get(label="2021-01").status == CycleStatus.OPEN


def test_a_month_nobody_bills_gets_no_cycle(beta):
    with inside(beta):
        _world(beta)
        lifecycle_events_ingest(items=[
            _event("b1", "vm-b", "created", "2020-10-01T00:00:00Z"),
            _event("b2", "vm-b", "stopped", "2020-10-20T00:00:00Z"),
            _event("b3", "vm-b", "started", "2020-12-05T00:00:00Z"),
            _event("b4", "vm-b", "deleted", "2020-12-10T00:00:00Z"),
        ], now=NOW)
        assert _labels() == ["2020-10", "2020-12"]
        assert cycles_carry_over(now=NOW) == []  # stopped at the end of October
        assert [r.cycle for r in close_due_cycles(now=NOW)] == ["2020-10", "2020-12"]
        assert _labels() == ["2020-10", "2020-12"]


def test_in_the_steady_state_the_carry_over_costs_one_query(beta, django_assert_num_queries):
    with inside(beta):
        _world(beta)
        rate_open_cycles(now=NOW)  # the current month exists and has not ended
        with django_assert_num_queries(1):
            assert cycles_carry_over(now=NOW) == []
