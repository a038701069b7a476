"""The incremental rating run (rating_run(usage_since=...)): it rewrites only the drafts
of accounts whose projects received usage since, and they come out exactly as a full
run makes them."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from catalog.models import Price
from invoicing.closing import cycle_close
from invoicing.models import Invoice, InvoiceLine, RatingRun
from invoicing.rating_inputs import rating_incremental_since
from invoicing.rating_run import rating_run
from metering.models import LifecycleEvent, LifecycleKind, Resource
from tests.conftest import inside
from tests.factories import make_org, make_project
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    add_event,
    at,
    make_cycle,
    run_resource,
    seed_catalog,
    seed_prices,
)

NOW = datetime(2020, 10, 20, tzinfo=UTC)


def drafts() -> dict[str, list[tuple]]:
    """Each account's draft: its total and lines, as a person reads them."""
    return {
        invoice.billing_account.organization.name: [
            invoice.total,
            sorted((line.project_name, line.variant, line.quantity, line.amount)
                   for line in invoice.lines.all()),
        ]
        for invoice in Invoice.objects.select_related("billing_account__organization")
    }


def world():
    instance, disk = seed_catalog()
    seed_prices(instance, disk)
    mars, venus = make_org("mars-corp"), make_org("venus-corp")
    adventure, zeta = make_project("adventure", mars), make_project("zeta", venus)
    run_resource("i-1", instance, "4cpu-16gb", adventure, since=at(2020, 10, 1),
                 events=[(LifecycleKind.STOPPED, at(2020, 10, 3))])
    run_resource("i-2", instance, "4cpu-16gb", zeta, since=at(2020, 10, 2),
                 events=[(LifecycleKind.STOPPED, at(2020, 10, 4))])
    return make_cycle(OCT_START, NOV_START, "2020-10")


def test_an_incremental_run_rewrites_only_touched_accounts_and_equals_a_full_run(alpha):
    with inside(alpha):
        cycle = world()
        first = rating_run(cycle=cycle, now=NOW)
        assert (first.resources, first.invoices) == (2, 2)
        venus_lines = set(InvoiceLine.objects.filter(
            invoice__billing_account__organization__name="venus-corp").values_list("pk",
                                                                                    flat=True))
        # New usage on adventure only (mars-corp), received after the first run.
        started = add_event(Resource.objects.get(resource_id="i-1"), LifecycleKind.STARTED,
                            at(2020, 10, 10))
        LifecycleEvent.objects.filter(pk=started.pk).update(received_at=at(2020, 10, 19))
        before_mars = drafts()["mars-corp"]

        incremental = rating_run(cycle=cycle, now=NOW, usage_since=at(2020, 10, 18))
        assert (incremental.resources, incremental.invoices) == (1, 1)
        after = drafts()
        assert after["mars-corp"] != before_mars
        # mars: 2 days to Oct 3, then Oct 10 to Oct 20 = 12 days of minutes at 0.10.
        assert after["mars-corp"][0] == Decimal("1728.00")
        # venus-corp's draft was not rewritten: the very same line rows.
        assert set(InvoiceLine.objects.filter(
            invoice__billing_account__organization__name="venus-corp").values_list(
                "pk", flat=True)) == venus_lines

        full = rating_run(cycle=cycle, now=NOW)
        assert full.invoices == 2
        assert drafts() == after

        nothing = rating_run(cycle=cycle, now=NOW, usage_since=at(2020, 10, 25))
        assert (nothing.resources, nothing.invoices, nothing.lines) == (0, 0, 0)
        assert drafts() == after


@pytest.fixture
def no_margin(settings):
    """Everything here commits at once: no write is in flight while a run reads."""
    settings.TALLY_RATING_IN_FLIGHT_SECONDS = 0


def test_the_close_rates_incrementally_after_a_run_to_the_cycles_end(alpha, no_margin):
    """Rated to its end before the close: the close rewrites only the accounts that
    received usage since, and what it finalizes equals a full rating."""
    with inside(alpha):
        cycle = world()
        rated = rating_run(cycle=cycle, now=NOV_START)
        assert rated.invoices == 2
        assert rating_incremental_since(cycle=cycle) == NOV_START
        venus_lines = set(InvoiceLine.objects.filter(
            invoice__billing_account__organization__name="venus-corp").values_list(
                "pk", flat=True))
        # Late usage for mars-corp, received after that run: i-1 started again on Oct 31.
        add_event(Resource.objects.get(resource_id="i-1"), LifecycleKind.STARTED,
                  at(2020, 10, 31))
        LifecycleEvent.objects.filter(occurred_at=at(2020, 10, 31)).update(
            received_at=NOV_START + timedelta(hours=1))

        closed = cycle_close(cycle=cycle, now=NOV_START + timedelta(hours=2))

        assert closed.finalized == 2
        last = RatingRun.objects.filter(cycle=cycle).order_by("-recorded_at").first()
        assert (last.invoices, last.resources) == (1, 1)  # mars-corp only
        totals = {name: lines[0] for name, lines in drafts().items()}
        # mars: Oct 1-3 and Oct 31 = 3 days of minutes at 0.10; venus: Oct 2-4.
        assert totals == {"mars-corp": Decimal("432.00"), "venus-corp": Decimal("288.00")}
        assert set(InvoiceLine.objects.filter(
            invoice__billing_account__organization__name="venus-corp").values_list(
                "pk", flat=True)) == venus_lines


def test_a_price_changed_after_the_last_run_makes_the_close_rate_in_full(alpha, no_margin):
    with inside(alpha):
        cycle = world()
        rating_run(cycle=cycle, now=NOV_START)
        assert rating_incremental_since(cycle=cycle) == NOV_START
        Price.objects.filter(variant="4cpu-16gb").update(rate=Decimal("0.20"))
        assert rating_incremental_since(cycle=cycle) is None

        cycle_close(cycle=cycle, now=NOV_START + timedelta(hours=2))

        totals = {name: lines[0] for name, lines in drafts().items()}
        assert totals == {"mars-corp": Decimal("576.00"), "venus-corp": Decimal("576.00")}

