"""Every line reads as arithmetic: the quantity and the rate a document prints, multiplied
and rounded once at the line, are the amount it prints, to the cent. Checked over every
line both demo providers bill (chargeback and offers: free units, tiers, flat and
one-time fees, prorated subscriptions, spot capacity, SLA credits) and the seed's
October 2020 invoice; the stored lines, and the rows the documents print."""

import re
from decimal import Decimal

from django.core.management import call_command

from core.money import round_money
from invoicing.models import Invoice, LineKind
from invoicing.presenter import invoice_document
from tenancy.models import Provider
from tests.conftest import inside
from tests.invoicing.test_documents import october_2020

NUMBER = re.compile(r"[\d,]*\.?\d+")


def number(text: str) -> Decimal:
    """The first number in a printed cell, negative when the cell starts with a minus
    ("−$495.00", "−4,950 minutes")."""
    found = NUMBER.search(text)
    assert found, text
    value = Decimal(found.group().replace(",", ""))
    return -value if text.lstrip().startswith(("−", "-")) else value


def printed_quantity(text: str) -> Decimal:
    """ "669,600 minutes" -> 669600; a proration "10 of 30 days" -> 10/30."""
    parts = re.fullmatch(r"([\d,.]+) of ([\d,.]+) \w+", text)
    if parts:
        return number(parts[1]) / number(parts[2])
    return number(text)


def broken_stored_lines(invoice: Invoice) -> list[str]:
    broken = []
    for line in invoice.lines.all():
        product = round_money(line.quantity * line.rate, invoice.currency)
        expected = -product if line.kind == LineKind.CREDIT else product
        if expected != line.amount:
            broken.append(f"{invoice} {line.description}: {line.quantity} x {line.rate} "
                          f"!= {line.amount}")
    return broken


def broken_printed_rows(invoice: Invoice) -> list[str]:
    broken = []
    for row in invoice_document(invoice=invoice).rows:
        cells = row.cells
        product = printed_quantity(cells["quantity"]) * number(cells["rate"])
        if round_money(product, invoice.currency) != number(cells["amount"]):
            broken.append(f"{invoice}: {cells['quantity']} x {cells['rate']} "
                          f"!= {cells['amount']}")
    return broken


def test_quantity_times_rate_is_the_amount_on_every_line_of_the_demos(db, capsys):
    call_command("tally_demo")
    checked, kinds, broken = 0, set(), []
    for provider in Provider.objects.filter(slug__in=["demo", "datum"]):
        with inside(provider):
            for invoice in Invoice.objects.select_related("cycle", "billing_account"):
                broken += broken_stored_lines(invoice) + broken_printed_rows(invoice)
                checked += invoice.lines.count()
                kinds |= {(line.kind, (line.details or {}).get("usage_group") is not None)
                          for line in invoice.lines.all()}
    assert broken == []
    assert checked >= 40
    # SLA credits: the October 2020 test below (the demos have none).
    assert {kind for kind, _ in kinds} >= {"usage", "one_time", "recurring"}
    assert ("usage", True) in kinds  # metered usage, priced per part


def test_quantity_times_rate_is_the_amount_on_the_october_2020_invoice(beta):
    with inside(beta):
        invoice = october_2020()
        assert broken_stored_lines(invoice) == [] and broken_printed_rows(invoice) == []
        assert invoice.lines.count() == 4
