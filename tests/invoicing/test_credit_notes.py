"""Credit notes: corrections of a finalized invoice, by line, by amount or in full, with
their own gapless numbers, PDF, email and audit row; their value reduces what is due,
or comes off the account's next invoice (or statement)."""

import io
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django_tenants.utils import tenant_context
from pypdf import PdfReader

from accounts.models import BillingAccount, Organization, PaymentKind
from accounts.onboarding import provider_onboard
from accounts.organizations import billing_contact_add
from invoicing.closing import cycle_close, invoice_finalize
from invoicing.credit_note_delivery import credit_note_deliver
from invoicing.credit_notes import NOTHING_LEFT, LineCredit, credit_note_issue
from invoicing.models import (
    CreditAllocation,
    CreditNote,
    Invoice,
    InvoiceDelivery,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    PaymentStatus,
)
from invoicing.payments.collection import invoice_payment_collect
from invoicing.pdf import pdf_absolute_path
from invoicing.presenter import invoice_document
from invoicing.selectors import credit_applied_to
from notifications.models import OutboxMessage
from tenancy.models import Provider
from tests.accounts.support import Api
from tests.conftest import host_client, inside, sign_in
from tests.invoicing.builders import NOV_START, OCT_START, at, make_cycle
from tests.invoicing.test_documents import october_2020

DEC_START = at(2020, 12, 1)


def instance_line(invoice: Invoice) -> InvoiceLine:
    return invoice.lines.get(kind=LineKind.USAGE, metric_key="instance")


def test_a_partial_credit_note_by_line_on_a_statement_comes_off_the_next_statement(beta):
    with inside(beta):
        invoice = october_2020()
        line = instance_line(invoice)
        note = credit_note_issue(invoice_id=invoice.pk, reason="billing_error",
                                 memo="1,000 minutes were billed twice",
                                 lines=[LineCredit(line_id=line.pk, quantity=Decimal(1000))],
                                 now=at(2020, 11, 3))
        assert (note.number, note.total) == ("BETA-CN-000001", Decimal("100.00"))
        (credited,) = note.lines.all()
        assert (credited.quantity, credited.rate, credited.amount) == (
            Decimal(1000), Decimal("0.10"), Decimal("100.00"))
        # The invoice is as issued; a statement's credit waits for the next statement.
        invoice.refresh_from_db()
        assert invoice.total == Decimal("99697.50") and invoice.status == InvoiceStatus.FINALIZED
        assert not CreditAllocation.objects.exists()
        # The audit log has its row.
        assert note.events.filter(pgh_label="insert").count() == 1

        november = make_cycle(NOV_START, DEC_START, "2020-11")
        cycle_close(cycle=november, now=DEC_START)
        following = Invoice.objects.get(cycle=november)
        assert following.total > Decimal("100.00")
        assert credit_applied_to(invoice_id=following.pk) == Decimal("100.00")
        totals = {t.key: (t.label, t.text) for t in invoice_document(invoice=following).totals}
    assert totals["credit_note"] == ("Credit note BETA-CN-000001 (billing error)", "−$100.00")
    assert totals["net"][0] == "Net charged back"


def test_a_full_credit_note_credits_every_line_and_leaves_nothing_to_credit(beta):
    with inside(beta):
        invoice = october_2020(card=True)
        note = credit_note_issue(invoice_id=invoice.pk, reason="duplicate", now=NOV_START)
        assert note.total == invoice.total == Decimal("99697.50")
        assert note.lines.count() == invoice.lines.count()
        # Unpaid card invoice: nothing is due any more, and nothing is collected.
        assert credit_applied_to(invoice_id=invoice.pk) == Decimal("99697.50")
        document = {t.key: t.text for t in invoice_document(invoice=invoice).totals}
        assert document["due"] == "$0.00" and document["total"] == "$99,697.50"
        assert invoice_payment_collect(invoice_id=invoice.pk, now=NOV_START) == "not_applicable"
        with pytest.raises(Exception) as refused:
            credit_note_issue(invoice_id=invoice.pk, reason="duplicate", now=NOV_START)
    assert NOTHING_LEFT in str(refused.value)


def test_credit_by_amount_over_the_api_reduces_what_is_due_and_refuses_too_much(alpha, beta):
    with inside(beta):
        invoice = october_2020(instances=1, card=True)
    api = Api(beta, "bob")
    created = api.post(f"/api/v1/invoices/{invoice.pk}/credit-notes",
                       {"reason": "service_issue", "amount": "50.00", "memo": "Goodwill"})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["number"], body["total"], body["reason"]) == ("BETA-CN-000001", "50.00",
                                                               "service_issue")
    assert body["allocations"] == [{"invoice": invoice.pk, "number": invoice.number,
                                    "amount": "50.00"}]
    too_much = api.post(f"/api/v1/invoices/{invoice.pk}/credit-notes",
                        {"reason": "other", "amount": "100000"})
    assert too_much.status_code == 409, too_much.json()
    bad_reason = api.post(f"/api/v1/invoices/{invoice.pk}/credit-notes", {"reason": "nope"})
    assert bad_reason.status_code == 400
    listed = api.get("/api/v1/credit-notes").json()["results"]
    assert [n["number"] for n in listed] == ["BETA-CN-000001"]
    # Another provider sees none of it.
    other = Api(alpha, "alice")
    assert other.get("/api/v1/credit-notes").json()["results"] == []
    assert other.get(f"/api/v1/credit-notes/{body['id']}").status_code == 404
    assert other.post(f"/api/v1/invoices/{invoice.pk}/credit-notes",
                      {"reason": "other", "amount": "1"}).status_code == 404
    with inside(beta):
        due = {t.key: t.text for t in invoice_document(invoice=invoice).totals}["due"]
        expected = invoice.total - Decimal("50.00")
    assert due == f"${expected:,.2f}"


def test_a_paid_invoices_credit_note_is_applied_to_the_next_invoice(beta):
    with inside(beta):
        invoice = october_2020(instances=1, card=True)
        InvoiceDelivery.objects.filter(invoice=invoice).update(
            payment_status=PaymentStatus.PAID)
        note = credit_note_issue(invoice_id=invoice.pk, reason="service_issue",
                                 amount=Decimal("25.00"), now=NOV_START)
        assert not note.allocations.exists()  # account credit, for the next invoice
        november = make_cycle(NOV_START, DEC_START, "2020-11")
        cycle_close(cycle=november, now=DEC_START)
        following = Invoice.objects.get(cycle=november)
        assert CreditAllocation.objects.get(credit_note=note).invoice == following
        totals = {t.key: t.text for t in invoice_document(invoice=following).totals}
    assert totals["due"] == f"${following.total - Decimal('25.00'):,.2f}"


@pytest.mark.usefixtures("own_media")
def test_a_credit_note_has_its_own_pdf_and_email(beta):
    with inside(beta):
        invoice = october_2020(instances=1)
        billing_contact_add(billing_account=invoice.billing_account,
                            email="finance@mars.example")
        note = credit_note_issue(invoice_id=invoice.pk, reason="billing_error",
                                 lines=[LineCredit(line_id=instance_line(invoice).pk)],
                                 now=NOV_START)
        assert credit_note_deliver(credit_note_id=note.pk, now=NOV_START) == 1
        assert credit_note_deliver(credit_note_id=note.pk, now=NOV_START) == 0  # once
        note.refresh_from_db()
        email = OutboxMessage.objects.get(to="finance@mars.example", key__startswith="credit")
        pdf = pdf_absolute_path(note.pdf_path).read_bytes()
    text = " ".join(" ".join(page.extract_text().split())
                    for page in PdfReader(io.BytesIO(pdf)).pages)
    for needle in ("CREDIT NOTE", "BETA-CN-000001", invoice.number, "Billing error",
                   "$4,464.00", "44,640 minutes", "$0.10 per minute",
                   "Account credit, applied to the next statement"):
        assert needle in text, needle
    assert email.text.splitlines()[0].startswith(
        f"Credit note BETA-CN-000001 from Beta Cloud: $4,464.00 credited on {invoice.number}")
    assert [a[0] for a in email.attachments] == ["BETA-CN-000001.pdf"]


@pytest.fixture
def committed_provider(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        provider = provider_onboard(name="Notes", slug="notes", admin_username="n").provider
        yield provider
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute('DROP SCHEMA "notes" CASCADE')
        Provider.objects.filter(pk=provider.pk).delete()


def test_twenty_concurrent_issuers_number_credit_notes_without_gaps(committed_provider):
    with tenant_context(committed_provider):
        cycle = make_cycle(OCT_START, NOV_START, "2020-10")
        org = Organization.objects.create(name="many", display_name="Many")
        account = BillingAccount.objects.create(organization=org, name="A", is_default=True,
                                                payment_kind=PaymentKind.CHARGEBACK)
        invoices = []
        for i in range(4):
            invoice = Invoice.objects.create(billing_account=account if i == 0 else
                                             BillingAccount.objects.create(
                                                 organization=org, name=f"B{i}"),
                                             cycle=cycle, currency="USD",
                                             subtotal=Decimal("1000"), total=Decimal("1000"))
            invoice_finalize(invoice_id=invoice.pk, now=NOV_START)
            invoices.append(invoice.pk)
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def issue(n: int):
        try:
            with tenant_context(committed_provider):
                start.wait(30)
                credit_note_issue(invoice_id=invoices[n % 4], reason="other",
                                  amount=Decimal("10.00"), now=NOV_START)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=issue, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    with tenant_context(committed_provider):
        sequences = sorted(CreditNote.objects.values_list("sequence", flat=True))
        numbers = set(CreditNote.objects.values_list("number", flat=True))
    assert sequences == list(range(1, 21))
    assert len(numbers) == 20 and "NOTES-CN-000020" in numbers


def test_an_operator_issues_a_credit_note_from_the_invoices_admin_page(beta):
    with inside(beta):
        invoice = october_2020(instances=1)
        line = instance_line(invoice)
    client = host_client(beta)
    assert sign_in(client, "bob")
    page = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/")
    assert "Issue a credit note" in page.content.decode()
    form = client.get(f"/admin/invoicing/invoice/{invoice.pk}/credit-note/")
    assert form.status_code == 200 and line.description in form.content.decode()
    issued = client.post(f"/admin/invoicing/invoice/{invoice.pk}/credit-note/",
                         {"reason": "service_issue", "memo": "Rack 3", "lines": [line.pk]})
    assert issued.status_code == 302, issued.content.decode()[:2000]
    with inside(beta):
        note = CreditNote.objects.get()
    assert (note.number, note.total, note.memo) == ("BETA-CN-000001", line.amount, "Rack 3")
    # The consumer's invoice page lists it, with its PDF.
    invoice_page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "BETA-CN-000001" in invoice_page and f"/api/v1/credit-notes/{note.pk}/pdf" in (
        invoice_page)
