"""Rating runs keep drafts current; closing finalizes, numbers and freezes invoices."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, InternalError, transaction

from accounts.models import BillingAccount, ProjectAccountAssignment
from catalog.models import PriceChangeSource
from catalog.services.list_prices import price_set
from core.errors import Conflict
from cycles.models import CycleStatus
from invoicing.closing import VOID_NEEDS_REASON, cycle_close, invoice_void
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus, RatingRun
from invoicing.rating_run import rating_run
from tests.conftest import inside
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    SEP_START,
    at,
    make_cycle,
    seed_adventure,
    seed_prices,
)


def _lines(invoice):
    return {(ln.metric_key, ln.variant): ln for ln in invoice.lines.all()}


def test_the_seed_sample_invoice_with_correct_arithmetic(beta):
    with inside(beta):
        _, project, instance, disk = seed_adventure()
        seed_prices(instance, disk)
        october = make_cycle(OCT_START, NOV_START, "2020-10")

        result = cycle_close(cycle=october, now=at(2020, 11, 1, 0, 5))

        assert result.finalized == 1 and result.closed
        invoice = Invoice.objects.get(cycle=october)
        assert invoice.status == InvoiceStatus.FINALIZED
        assert invoice.number == "BETA-000001"
        lines = _lines(invoice)
        instances = lines[("instance", "4cpu-16gb")]
        disks = lines[("disk", "500gb")]
        assert (instances.resource_count, instances.quantity) == (15, Decimal(15 * 44640))
        assert (instances.rate, instances.unit) == (Decimal("0.10"), "minute")
        assert instances.amount == Decimal("66960.00")
        assert disks.amount == Decimal("33480.00")
        assert invoice.total == Decimal("100440.00")
        assert (instances.period_start, instances.period_end) == (OCT_START, NOV_START)
        assert instances.region == "mars" and instances.project_name == "adventure"
        assert instances.resource_label == "Instance: 4 CPU, 16 GB Memory"
        assert "adventure" in instances.description
        assert invoice.organization_name == "Mars Corp" and invoice.provider_name == "Beta Cloud"


def test_a_draft_is_kept_current_and_a_rerun_writes_the_same_lines(beta):
    with inside(beta):
        _, _, instance, disk = seed_adventure(instances=2)
        seed_prices(instance, disk)
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        mid = at(2020, 10, 11)

        rating_run(cycle=october, now=mid)
        first = sorted((ln.metric_key, ln.quantity, ln.amount)
                       for ln in InvoiceLine.objects.filter(invoice__cycle=october))
        rating_run(cycle=october, now=mid)
        second = sorted((ln.metric_key, ln.quantity, ln.amount)
                        for ln in InvoiceLine.objects.filter(invoice__cycle=october))

        assert first == second
        assert ("instance", Decimal(2 * 10 * 1440), Decimal("2880.00")) in first
        draft = Invoice.objects.get(cycle=october)
        assert draft.status == InvoiceStatus.DRAFT and draft.number is None
        assert draft.total == Decimal("4320.00")
        assert RatingRun.objects.filter(cycle=october).count() == 2


def test_a_price_set_mid_cycle_reprices_the_open_cycle_not_the_finalized_one(beta):
    with inside(beta):
        _, _, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        september = make_cycle(SEP_START, OCT_START, "2020-09")
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        cycle_close(cycle=september, now=at(2020, 10, 1, 1))
        september_invoice = Invoice.objects.get(cycle=september)
        assert september_invoice.total == Decimal("6480.00")  # 30 days x (0.10 + 0.05) x 1440

        price_set(metric_key="instance", variant="4cpu-16gb", rate=Decimal("0.20"),
                  time_unit="minute", effective_from=None, now=at(2020, 10, 15, 12),
                  actor=None, source=PriceChangeSource.API)
        cycle_close(cycle=october, now=at(2020, 11, 1))

        october_lines = _lines(Invoice.objects.get(cycle=october))
        # The new rate applies from the start of the cycle containing the change.
        assert october_lines[("instance", "4cpu-16gb")].rate == Decimal("0.20")
        assert october_lines[("instance", "4cpu-16gb")].amount == Decimal("8928.00")
        september_invoice.refresh_from_db()
        assert september_invoice.total == Decimal("6480.00")
        assert _lines(september_invoice)[("instance", "4cpu-16gb")].rate == Decimal("0.10")


def test_a_scheduled_price_splits_the_cycle(beta):
    with inside(beta):
        _, _, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        price_set(metric_key="instance", variant="4cpu-16gb", rate=Decimal("0.30"),
                  time_unit="minute", effective_from=at(2020, 10, 21), now=at(2020, 10, 2),
                  actor=None, source=PriceChangeSource.API)

        rating_run(cycle=october, now=NOV_START)

        instance_lines = sorted(
            (ln.period_start, ln.rate, ln.quantity)
            for ln in InvoiceLine.objects.filter(invoice__cycle=october, metric_key="instance")
        )
        assert instance_lines == [
            (OCT_START, Decimal("0.10"), Decimal(20 * 1440)),
            (at(2020, 10, 21), Decimal("0.30"), Decimal(11 * 1440)),
        ]


def test_a_project_moved_mid_cycle_splits_between_two_invoices(beta):
    with inside(beta):
        org, project, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        other = BillingAccount.objects.create(organization=org, name="Research")
        move = at(2020, 10, 16)
        ProjectAccountAssignment.objects.filter(project=project).update(valid_to=move)
        ProjectAccountAssignment.objects.create(project=project, billing_account=other,
                                                valid_from=move)
        october = make_cycle(OCT_START, NOV_START, "2020-10")

        cycle_close(cycle=october, now=NOV_START)

        totals = dict(Invoice.objects.filter(cycle=october)
                      .values_list("billing_account__name", "total"))
        assert totals == {"Main": Decimal("3240.00"), "Research": Decimal("3456.00")}
        numbers = sorted(Invoice.objects.filter(cycle=october).values_list("sequence", flat=True))
        assert numbers == [1, 2]


def test_closing_twice_changes_nothing(beta):
    with inside(beta):
        _, _, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        cycle_close(cycle=october, now=NOV_START)
        before = list(Invoice.objects.filter(cycle=october).values("number", "total"))

        october.refresh_from_db()
        again = cycle_close(cycle=october, now=at(2020, 11, 2))

        assert again.finalized == 0 and again.closed
        assert list(Invoice.objects.filter(cycle=october).values("number", "total")) == before
        assert october.status == CycleStatus.CLOSED


def test_a_cycle_cannot_close_before_its_end_plus_grace(beta):
    with inside(beta):
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        with pytest.raises(Conflict):
            cycle_close(cycle=october, now=at(2020, 10, 31, 23, 59))


def test_a_finalized_invoice_never_changes_even_behind_the_services_back(beta):
    with inside(beta):
        _, _, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        cycle_close(cycle=october, now=NOV_START)
        invoice = Invoice.objects.get(cycle=october)

        for attempt in (
            lambda: Invoice.objects.filter(pk=invoice.pk).update(total=Decimal("1.00")),
            lambda: InvoiceLine.objects.filter(invoice=invoice).update(amount=Decimal("1.00")),
            lambda: InvoiceLine.objects.filter(invoice=invoice).delete(),
            lambda: Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.DRAFT),
        ):
            with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
                attempt()

        # Rating a closed cycle does nothing.
        assert rating_run(cycle=october, now=at(2020, 11, 5)).skipped


def test_voiding_needs_a_reason_and_only_applies_to_finalized_invoices(beta):
    with inside(beta):
        _, _, instance, disk = seed_adventure(instances=1)
        seed_prices(instance, disk)
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        rating_run(cycle=october, now=at(2020, 10, 5))
        draft = Invoice.objects.get(cycle=october)
        with pytest.raises(Conflict):
            invoice_void(invoice=draft, reason="typo", now=at(2020, 10, 6))

        cycle_close(cycle=october, now=NOV_START)
        invoice = Invoice.objects.get(cycle=october)
        with pytest.raises(Exception) as refused:
            invoice_void(invoice=invoice, reason="  ", now=at(2020, 11, 2))
        assert VOID_NEEDS_REASON in str(refused.value)

        voided = invoice_void(invoice=invoice, reason="billed the wrong team", now=at(2020, 11, 2))
        assert voided.status == InvoiceStatus.VOID and voided.number == invoice.number
        assert voided.lines.count() == 2
