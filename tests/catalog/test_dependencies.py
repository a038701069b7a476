"""Resource type dependencies decide which dependents an SLA credit cascades to."""

from decimal import Decimal

from catalog.services.directory import dependency_set
from invoicing.closing import cycle_close
from invoicing.credits import credit_create
from invoicing.models import Invoice, LineKind
from tests.conftest import inside
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    at,
    make_cycle,
    seed_adventure,
    seed_prices,
)

WINDOW = (at(2020, 10, 15, 23), at(2020, 10, 16, 4, 30))


def _credited(beta, *, disks_cascade: bool | None) -> dict:
    with inside(beta):
        org, _, instance, disk = seed_adventure()
        seed_prices(instance, disk)
        if disks_cascade is not None:
            dependency_set(resource_type="disk", depends_on="instance",
                           credit_cascades=disks_cascade)
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        credit_create(name="Downgraded instances", description="Region Mars",
                      window_start=WINDOW[0], window_end=WINDOW[1], organization=org,
                      region="mars", metric_key="instance")
        cycle_close(cycle=october, now=NOV_START)
        invoice = Invoice.objects.get(cycle=october)
        lines = invoice.lines.filter(kind=LineKind.CREDIT)
        return {"total": invoice.total, **{ln.metric_key: ln.amount for ln in lines}}


def test_a_credit_on_instances_covers_their_disks_when_the_dependency_cascades(beta):
    assert _credited(beta, disks_cascade=True) == {
        "total": Decimal("99697.50"), "instance": Decimal("-495.00"),
        "disk": Decimal("-247.50")}


def test_a_dependency_that_does_not_cascade_keeps_the_disks_out_of_the_credit(beta):
    assert _credited(beta, disks_cascade=False) == {
        "total": Decimal("99945.00"), "instance": Decimal("-495.00")}
