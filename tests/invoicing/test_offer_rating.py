"""Consumer billing through the one rating run: usage priced by the entitlement active at
its instant, one-time and recurring fees, running time by the offer's duration prices,
unentitled usage kept and reported; a chargeback provider prices usage by list prices."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from accounts.entitlements import entitlement_accept, entitlement_end
from catalog.models import PriceChangeSource
from catalog.services.list_prices import price_set, usage_price_set
from catalog.services.metrics import metric_create
from core.periods import month_period
from invoicing.models import Invoice, RatingRun
from invoicing.rating_run import rating_run
from metering.models import UsageEvent
from metering.selectors import unentitled_usage
from metering.usage_ingest import usage_events_ingest
from tests.conftest import inside
from tests.factories import make_cycle, make_org, make_project
from tests.invoicing.builders import run_resource
from tests.offers_world import datum_catalog, make_consumer, sells_offers


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


MARCH = month_period(2026, 3, "Europe/Berlin")


def _usage(event_id, metric, project, at, value, **attributes):
    return {"event_id": event_id, "metric": metric, "project": project,
            "occurred_at": at.isoformat(), "value": value, "attributes": attributes}


def test_an_offers_provider_bills_usage_fees_and_running_time_by_the_entitlement(
        alpha, no_cycles):
    provider = sells_offers(alpha, timezone="Europe/Berlin")
    with inside(provider):
        datum_catalog(now=berlin(2026, 2, 1))
        acme = make_consumer()
        web = acme.project.name
        instance = run_resource("vm-1", _metric("instance"), "2cpu-8gb", acme.project,
                                since=berlin(2026, 3, 1, 6))
        before = [_usage("q-early", "dns.queries", web, berlin(2026, 3, 5), "500")]
        usage_events_ingest(items=before, now=berlin(2026, 3, 5, 1))

        pro = entitlement_accept(billing_account=acme.account, offer_key="pro",
                                 now=berlin(2026, 3, 10, 12))
        during = [_usage("q-1", "dns.queries", web, berlin(2026, 3, 12), "1000000"),
                  _usage("q-2", "dns.queries", web, berlin(2026, 3, 29, 12), "500000")]
        during += [_usage(f"z-{i}", "dns.zones-hosted", web, berlin(2026, 3, 15), "1",
                          zone=f"zone-{i % 25}.example") for i in range(40)]
        result = usage_events_ingest(items=during, now=berlin(2026, 3, 29, 13))
        assert result.accepted == 42 and result.refused == 0
        entitlement_end(entitlement=pro, now=berlin(2026, 3, 30, 12))
        after = [_usage("q-late", "dns.queries", web, berlin(2026, 3, 31), "7")]
        usage_events_ingest(items=after, now=berlin(2026, 3, 31, 1))

        cycle = make_cycle(MARCH.start, MARCH.end, "2026-03")
        run = rating_run(cycle=cycle, now=berlin(2026, 4, 2))
        again = rating_run(cycle=cycle, now=berlin(2026, 4, 2))
        # Each usage charge is lines that read quantity x rate = amount: a line per tier,
        # the free units at rate 0, the packages.
        assert run.lines == again.lines == 7

        invoice = Invoice.objects.get(cycle=cycle, billing_account=acme.account)
        lines = {(line.kind, line.description): line for line in invoice.lines.all()}
        queries = [line for line in invoice.lines.order_by("sort_key")
                   if line.metric_key == "dns.queries"]
        assert [(line.quantity, line.rate, line.amount) for line in queries] == [
            (Decimal(1000000), Decimal(0), Decimal("0.00")),
            (Decimal(500000), Decimal("0.0000004"), Decimal("0.20"))]
        assert queries[0].details["measured"] == "1500000"
        assert {line.details["entitlement_id"] for line in queries} == {pro.pk}
        assert queries[0].details["offer"] == "Pro v1"
        zones = [line for line in invoice.lines.order_by("sort_key")
                 if line.metric_key == "dns.zones-hosted"]
        # 25 distinct zones, 10 free, 15 in packages of 10: two packages of 5.
        assert [(line.description, line.quantity, line.rate, line.amount) for line in zones] == [
            ("Hosted zones (Pro v1), first 10 free", Decimal(10), Decimal(0), Decimal("0.00")),
            ("Hosted zones (Pro v1), packages of 10", Decimal(2), Decimal(5),
             Decimal("10.00"))]
        assert lines[("one_time", "Onboarding (Pro v1)")].amount == Decimal("49.00")
        recurring = lines[("recurring", "Pro plan (Pro v1)")]
        # 20 days less the DST hour of 29 March, over March's 743 hours in Berlin.
        assert recurring.amount == Decimal("19.34")
        assert recurring.details["proration"]["seconds"] == "1724400"
        running = next(line for line in invoice.lines.all() if line.metric_key == "instance")
        # 479 hours (10 March 11:00 UTC to 30 March 10:00 UTC) at 0.01 per hour.
        assert running.quantity == Decimal(479) and running.amount == Decimal("4.79")
        assert running.price.price_list.offer_version.offer.key == "pro"
        assert invoice.total == Decimal("83.33")

        # Usage before the entitlement and after its end: kept, reported, not billed.
        assert UsageEvent.objects.filter(event_id__in=["q-early", "q-late"]).count() == 2
        (unentitled,) = unentitled_usage(period=MARCH)
        assert (unentitled.project, unentitled.metric, unentitled.events,
                unentitled.total_value) == (web, "dns.queries", 2, Decimal(507))
        sample = RatingRun.objects.filter(cycle=cycle).first().unbilled_sample
        reasons = {(item.get("metric") or item.get("resource_id"), item["reason"][:20])
                   for item in sample}
        assert ("dns.queries", "no active entitlemen") in reasons
        assert (instance.resource_id, "no active entitlemen") in reasons


def _metric(key):
    from catalog.models import Metric

    return Metric.objects.get(key=key)


def test_a_chargeback_provider_prices_usage_metrics_by_list_prices(beta, no_cycles):
    with inside(beta):
        metric_create(key="api.calls", name="API calls", aggregation="count")
        metric_create(key="storage.peak", name="Peak storage", aggregation="max", unit="GB")
        usage_price_set(metric_key="api.calls", effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                        now=datetime(2026, 1, 1, tzinfo=UTC),
                        charge={"model": "package", "name": "API calls",
                                "package_size": "1000", "amount": "0.50"})
        usage_price_set(metric_key="storage.peak", effective_from=None,
                        now=datetime(2026, 3, 3, tzinfo=UTC),
                        charge={"model": "per_unit", "name": "Peak storage",
                                "unit_price": "0.02", "free_units": "5"})
        org = make_org("mars-corp")
        make_project("adventure", org)
        events = [_usage(f"c-{i}", "api.calls", "adventure",
                         datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=i), "1")
                  for i in range(1001)]
        events += [_usage("s-1", "storage.peak", "adventure",
                          datetime(2026, 3, 2, tzinfo=UTC), "40"),
                   _usage("s-2", "storage.peak", "adventure",
                          datetime(2026, 3, 9, tzinfo=UTC), "125.5")]
        usage_events_ingest(items=events, now=datetime(2026, 3, 10, tzinfo=UTC))
        cycle = make_cycle(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC),
                           "2026-03")
        rating_run(cycle=cycle, now=datetime(2026, 3, 20, tzinfo=UTC))
        invoice = Invoice.objects.get(cycle=cycle)
        lines = {line.description: line for line in invoice.lines.all()}
        calls = lines["Usage of API calls, packages of 1,000"]
        assert (calls.quantity, calls.rate, calls.unit) == (Decimal(2), Decimal("0.50"), "package")
        assert calls.amount == Decimal("1.00")  # two packages
        assert calls.details["measured"] == "1001"
        free = lines["Usage of Peak storage, first 5 free"]
        assert (free.quantity, free.rate, free.amount) == (Decimal(5), Decimal(0), Decimal(0))
        storage = lines["Usage of Peak storage"]
        assert (storage.quantity, storage.rate) == (Decimal("120.5"), Decimal("0.02"))
        assert storage.amount == Decimal("2.41")  # (125.5 - 5) x 0.02
        assert storage.project.name == "adventure"
        # No entitlement anywhere, yet nothing is unentitled: chargeback prices it all.
        assert RatingRun.objects.get(cycle=cycle).unbilled_count == 0


def test_chargeback_duration_rating_is_unchanged_next_to_usage(beta, no_cycles):
    from tests.invoicing.builders import seed_catalog

    with inside(beta):
        instance, _ = seed_catalog()
        price_set(metric_key="instance", variant="4cpu-16gb", rate=Decimal("0.10"),
                  time_unit="minute", effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                  now=datetime(2026, 1, 1, tzinfo=UTC), source=PriceChangeSource.API)
        org = make_org("mars-corp")
        project = make_project("adventure", org)
        run_resource("i-1", instance, "4cpu-16gb", project,
                     since=datetime(2026, 3, 1, tzinfo=UTC))
        cycle = make_cycle(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC),
                           "2026-03")
        rating_run(cycle=cycle, now=datetime(2026, 4, 2, tzinfo=UTC))
        (line,) = Invoice.objects.get(cycle=cycle).lines.all()
        assert line.quantity == Decimal(44640) and line.amount == Decimal("4464.00")
