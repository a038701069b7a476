"""One invoice, three renderings: the seed's October 2020 invoice as PDF, HTML page and
CSV carries the same rows, columns and numbers, in the provider's locale."""

import csv
import io
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from pypdf import PdfReader

from accounts.models import BillingAccount, PaymentKind
from accounts.organizations import billing_contact_add
from invoicing.closing import cycle_close, invoice_void
from invoicing.credits import credit_create
from invoicing.delivery import invoice_email_send, invoice_pdf_file
from invoicing.models import (
    DocumentSettings,
    Invoice,
    InvoiceDelivery,
    PaymentProfile,
    StepStatus,
)
from invoicing.payments.selectors import Card
from invoicing.pdf import html_to_pdf, invoice_html
from invoicing.presenter import invoice_document
from notifications.models import OutboxMessage
from tests.accounts.support import Api
from tests.conftest import host_client, inside, sign_in
from tests.factories import make_price
from tests.invoicing.builders import (
    NOV_START,
    OCT_START,
    at,
    make_cycle,
    seed_adventure,
    seed_prices,
)

WINDOW = (at(2020, 10, 15, 23), at(2020, 10, 16, 4, 30))
HEADINGS = ["Period (UTC)", "Region", "Description", "Resource", "Project", "Resources",
            "Quantity", "Rate", "Amount"]


def october_2020(*, instances: int = 15, card: bool = False) -> Invoice:
    """The seed's sample invoice, with the arithmetic of PRODUCT.md, finalized."""
    org, _, instance, disk = seed_adventure(instances=instances)
    seed_prices(instance, disk)
    october = make_cycle(OCT_START, NOV_START, "2020-10")
    credit_create(name="Downgraded instances",
                  description="Credit for downgraded instances in Region Mars",
                  window_start=WINDOW[0], window_end=WINDOW[1], organization=org,
                  region="mars", metric_key="instance")
    if card:
        BillingAccount.objects.filter(organization=org).update(payment_kind=PaymentKind.CARD)
    cycle_close(cycle=october, now=NOV_START)
    return Invoice.objects.select_related("cycle", "billing_account__organization").get(
        cycle=october)


def normalized(text: str) -> str:
    return " ".join(text.split())


def pdf_text(data: bytes) -> str:
    return normalized(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages))


class TableRows(HTMLParser):
    """The cells of table#lines, row by row, as a person reads them."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = self._cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("id", "lines") in attrs:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self._cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th"):
            self._cell = False

    def handle_data(self, data):
        if self._in_table and self._cell:
            self.rows[-1][-1] += data


@pytest.mark.usefixtures("own_media")
def test_the_october_2020_invoice_reads_the_same_in_pdf_html_and_csv(beta):
    with inside(beta):
        invoice = october_2020()
        document = invoice_document(invoice=invoice)
        pdf = pdf_text(html_to_pdf(invoice_html(invoice=invoice)))
    expected = [HEADINGS, *(row.values() for row in document.rows)]
    assert document.headings == HEADINGS

    # The rows, as issue 18 reads them: count, rate with currency and unit, amounts.
    by_amount = {row.cells["amount"]: row.cells for row in document.rows}
    instances = by_amount["$66,960.00"]
    assert instances["count"] == "15" and instances["rate"] == "$0.10 per minute"
    assert instances["quantity"] == "669,600 minutes" and instances["period"] == "1–31 Oct 2020"
    assert instances["resource"] == "Instance: 4 CPU, 16 GB Memory"
    assert instances["project"] == "adventure" and instances["region"] == "mars"
    credit = by_amount["−$495.00"]
    assert (credit["quantity"], credit["rate"]) == ("−4,950 minutes", "$0.10 per minute")
    assert credit["description"].count("Downgraded instances") == 1
    assert [(t.label, t.text) for t in document.totals] == [
        ("Subtotal", "$100,440.00"), ("Credits", "−$742.50"), ("Total (USD)", "$99,697.50")]

    # HTML: the invoice's page shows exactly these rows and columns.
    client = host_client(beta)
    assert sign_in(client, "bob")
    page = client.get(f"/invoices/{invoice.pk}/")
    assert page.status_code == 200
    parser = TableRows()
    parser.feed(page.content.decode())
    assert [[normalized(cell) for cell in row] for row in parser.rows] == expected
    assert "−$742.50" in page.content.decode() and "$99,697.50" in page.content.decode()

    # CSV: the page's download and the API's, the same rows and columns again.
    download = client.get(f"/invoices/{invoice.pk}/", {"format": "csv"})
    page_csv = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    api_csv = Api(beta, "bob").get(f"/api/v1/invoices/{invoice.pk}/document.csv")
    rows = list(csv.reader(io.StringIO(api_csv.content.decode())))
    assert rows[:len(expected)] == expected
    assert page_csv == rows
    assert rows[len(expected):] == [["", "", "", "", "", "", "", label, text] for label, text in
                                    (("Subtotal", "$100,440.00"), ("Credits", "−$742.50"),
                                     ("Total (USD)", "$99,697.50"))]
    json_rows = Api(beta, "bob").get(f"/api/v1/invoices/{invoice.pk}/document").json()["rows"]
    assert [[r[c] for c in document.as_json()["columns"]] for r in json_rows] == expected[1:]

    # PDF: every heading and cell, the rows in the same order.
    for needle in ("$0.10 per minute", "$66,960.00", "−$495.00", "$99,697.50", "STATEMENT",
                   "Charged back to Main (Mars Corp)", *HEADINGS):
        assert needle in pdf, needle
    position = 0
    for row in document.rows:
        for cell in row.values():
            assert normalized(cell) in pdf, cell
        position = pdf.index(row.cells["amount"], position)
    assert re.search(r"\b15\b", pdf)
    # A statement: no due date, no payment words.
    for word in ("Due date", "Amount due", "paid", "Payment"):
        assert word not in pdf, word


def test_an_invoice_shows_its_due_date_payment_state_and_card(beta, monkeypatch):
    # The card as dj-stripe recorded it (tests/invoicing/delivery records real ones
    # through localstripe); here only what the document prints of it.
    monkeypatch.setattr("invoicing.presenter.card_on_file", lambda profile: Card(
        payment_method_id=profile.payment_method_id, brand="visa", last4="4242",
        exp_month=12, exp_year=2030))
    with inside(beta):
        invoice = october_2020(instances=1, card=True)
        PaymentProfile.objects.create(billing_account=invoice.billing_account,
                                      stripe_customer_id="cus_test", payment_method_id="pm_1")
        document = invoice_document(invoice=invoice)
    meta = dict(document.meta)
    assert document.title == "Invoice" and meta["Due date"] == "1 Dec 2020 (UTC)"
    assert "visa ending in 4242" in document.settlement and "Payment:" in document.settlement
    totals = {t.key: t.text for t in document.totals}
    assert totals["paid"] == "$0.00" and totals["due"] == totals["total"]


@pytest.mark.usefixtures("own_media")
def test_a_voided_invoice_gets_a_new_pdf_with_a_void_mark_and_the_reason(beta):
    with inside(beta):
        invoice = october_2020(instances=1)
        original = invoice_pdf_file(invoice_id=invoice.pk, now=NOV_START)
        first = original.read_bytes()
        invoice_void(invoice=invoice, reason="Billed to the wrong account", now=NOV_START)
        voided = invoice_pdf_file(invoice_id=invoice.pk, now=NOV_START)
    assert voided != original and voided.read_bytes() != first
    assert original.read_bytes() == first  # the issued file is kept as it was
    text = pdf_text(voided.read_bytes())
    assert "VOID" in text and "Billed to the wrong account" in text


@pytest.mark.usefixtures("own_media")
def test_a_zero_total_document_is_kept_but_not_emailed_unless_the_provider_opts_in(beta):
    with inside(beta):
        org, _, instance, disk = seed_adventure(instances=1)
        billing_contact_add(billing_account=org.billing_accounts.get(),
                            email="finance@mars.example")
        # Priced at zero: a $0.00 statement.
        make_price(instance, "0", "minute", variant="4cpu-16gb")
        make_price(disk, "0", "minute", variant="500gb")
        october = make_cycle(OCT_START, NOV_START, "2020-10")
        cycle_close(cycle=october, now=NOV_START)
        invoice = Invoice.objects.get(cycle=october)
        assert invoice.total == Decimal("0.00")
        assert invoice_pdf_file(invoice_id=invoice.pk, now=NOV_START).is_file()
        assert invoice_email_send(invoice_id=invoice.pk, now=NOV_START) == 0
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert delivery.email_status == StepStatus.SKIPPED
        assert not OutboxMessage.objects.filter(to="finance@mars.example").exists()

        DocumentSettings.objects.update(email_zero_total=True)
        InvoiceDelivery.objects.filter(invoice=invoice).update(email_status=StepStatus.PENDING)
        assert invoice_email_send(invoice_id=invoice.pk, now=NOV_START) == 1
        email = OutboxMessage.objects.get(to="finance@mars.example")
    first_line = email.text.splitlines()[0]
    assert first_line.startswith(f"Statement {invoice.number} from Beta Cloud: $0.00 for "
                                 "1–31 Oct 2020 (UTC), charged back to")
    assert f"/invoices/{invoice.pk}/" in first_line and "PDF is attached" in first_line
