"""Invoice PDFs (content, pages, stored once, no foreign URLs) and the email outbox."""

import http.server
import io
import threading
from datetime import timedelta
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfReader

from invoicing.delivery import email_key, invoice_email_send, invoice_pdf_render
from invoicing.models import InvoiceDelivery, PaymentStatus, StepStatus
from invoicing.payments.collection import invoice_payment_collect
from invoicing.pdf import (
    LOGO,
    RefusedUrl,
    html_to_pdf,
    invoice_url_fetcher,
    url_is_invoice_asset,
)
from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import OutboxRetryLater, outbox_deliver, outbox_enqueue, outbox_retry
from tests.conftest import inside
from tests.invoicing.delivery.conftest import (
    ISSUED,
    attachments,
    bodies,
    free_port,
    later,
    make_account,
    make_finalized_invoice,
)


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def pdf_pages(path: Path) -> list[str]:
    """Each page's text, with line breaks of wrapped cells folded into spaces."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(str(path)).pages]


def test_the_pdf_holds_everything_the_seed_invoice_prints_and_is_stored_once(alpha):
    with inside(alpha):
        alpha.address = "1 Olympus Mons Way\nTharsis, Mars"
        alpha.save(update_fields=["address"])
        account = make_account("mars-corp")
        invoice = make_finalized_invoice(account)

        assert invoice_pdf_render(invoice_id=invoice.pk, now=later(1)) is True
        assert invoice_pdf_render(invoice_id=invoice.pk, now=later(2)) is False

        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert delivery.pdf_status == StepStatus.DONE
        assert delivery.pdf_path == f"alpha/invoices/{invoice.number}.pdf"
        assert delivery.pdf_rendered_at == later(1)
        path = Path(settings.MEDIA_ROOT) / delivery.pdf_path
        assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
        # Cells wrap at hyphens: "mars-corp- adventure".
        text = "\n".join(pdf_pages(path)).replace("- ", "-")
    for expected in (
        invoice.number, "Alpha Cloud", "1 Olympus Mons Way", "Tharsis, Mars", "Main",
        # Dates in the provider's zone, named. The fixture's cycle is October in UTC, which
        # in Auckland starts and ends at 13:00, so its period shows those times.
        "Mars Corp", "1 Oct 2020, 13:00 – 1 Nov 2020, 13:00 (Pacific/Auckland)",
        "Issue date", "1 Nov 2020 (Pacific/Auckland)",
        "Period (Pacific/Auckland)",
        "Period", "Region", "Description", "Resource", "Project", "Resources", "Quantity",
        "Rate", "Amount",
        "Usage line 001 for Project Adventure", "Instance: 4 CPU, 16 GB Memory",
        "mars-corp-adventure", "669,600 minutes", "€0.10 per minute", "€69,750.00",
        "€33,750.00", "−€515.62",
        "Mars SLA breach", "Instances downgraded during the dust storm", "Subtotal",
        "Credits", "€102,984.38", "Page 1 of 1", "STATEMENT",
    ):
        assert expected in text, expected
    # A statement: nothing is due, nothing is paid.
    assert "Due date" not in text and "Amount due" not in text


def test_a_long_invoice_repeats_its_table_header_and_numbers_its_pages(alpha):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("big-corp"), usage_lines=150)
        invoice_pdf_render(invoice_id=invoice.pk, now=later(1))
        path = Path(settings.MEDIA_ROOT) / InvoiceDelivery.objects.get(invoice=invoice).pdf_path
    pages = pdf_pages(path)
    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
        assert "Description" in text and "Quantity" in text and "Amount" in text, number
        assert invoice.number in text
    assert "Usage line 150" in pages[-1] and "Usage line 150" not in pages[0]
    assert "Total (EUR)" in pages[-1]


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_rendering_fetches_nothing_outside_the_invoice_assets(tmp_path):
    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), _CountingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for invoices")
    try:
        fetcher = invoice_url_fetcher()
        html = (
            f'<img src="http://127.0.0.1:{port}/tracker.png">'
            f'<link rel="stylesheet" href="http://127.0.0.1:{port}/evil.css">'
            f'<img src="{secret.as_uri()}"><img src="invoices/../../README.md">'
            f'<img src="{LOGO.as_uri()}">'
        )
        assert html_to_pdf(html, fetcher=fetcher).startswith(b"%PDF")
    finally:
        server.shutdown()
    assert _CountingHandler.hits == []
    assert f"http://127.0.0.1:{port}/tracker.png" in fetcher.refused
    assert f"http://127.0.0.1:{port}/evil.css" in fetcher.refused
    assert secret.as_uri() in fetcher.refused
    assert any(url.endswith("README.md") for url in fetcher.refused)
    assert LOGO.as_uri() not in fetcher.refused
    with pytest.raises(RefusedUrl):
        fetcher.fetch("https://example.com/logo.png")
    assert url_is_invoice_asset(LOGO.as_uri())
    assert not url_is_invoice_asset("file:///etc/passwd")
    assert not url_is_invoice_asset(LOGO.parent.as_uri() + "/../../manage.py")


def test_the_email_goes_once_to_each_contact_with_the_pdf(alpha, mailbox,
                                                         django_capture_on_commit_callbacks):
    with inside(alpha):
        account = make_account("mars-corp", contacts=("cfo@mars.test", "ops@mars.test"))
        invoice = make_finalized_invoice(account)
        assert invoice_email_send(invoice_id=invoice.pk, now=later(1)) == 0  # no PDF yet
        invoice_pdf_render(invoice_id=invoice.pk, now=later(1))

        with django_capture_on_commit_callbacks() as queued:
            assert invoice_email_send(invoice_id=invoice.pk, now=later(2)) == 2
            assert invoice_email_send(invoice_id=invoice.pk, now=later(3)) == 0
        messages = list(OutboxMessage.objects.order_by("to"))
        assert [m.key for m in messages] == [
            email_key(invoice_id=invoice.pk, email="cfo@mars.test"),
            email_key(invoice_id=invoice.pk, email="ops@mars.test"),
        ]
        assert len(queued) == 2  # one delivery task per new row, after commit
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert (delivery.email_status, delivery.emailed_at) == (StepStatus.DONE, later(2))

        for message in messages:
            assert outbox_deliver(message_id=message.pk, now=later(4)) is True
            assert outbox_deliver(message_id=message.pk, now=later(5)) is False
        assert set(OutboxMessage.objects.values_list("status", "attempts", "sent_at")) == {
            (OutboxStatus.SENT, 1, later(4))
        }
        pdf_bytes = (Path(settings.MEDIA_ROOT) / delivery.pdf_path).read_bytes()

    assert len(mailbox.messages) == 2
    received = mailbox.to("cfo@mars.test")[0]
    subject = str(make_header(decode_header(received["Subject"])))  # "€": RFC 2047
    assert subject == f"Alpha Cloud: statement {invoice.number} for 2020-10 (€102,984.38)"
    assert attachments(received) == {f"{invoice.number}.pdf": pdf_bytes}
    text = bodies(received)
    # One line says what it is: the total, the period, where to see it, the PDF.
    first = text["text/plain"].splitlines()[0]
    assert first.startswith(f"Statement {invoice.number} from Alpha Cloud: €102,984.38 for ")
    assert "charged back to Main (Mars Corp)" in first and "the PDF is attached" in first
    assert f"alpha.localhost/invoices/{invoice.pk}/" in first
    assert f"<strong>{invoice.number}</strong>" in text["text/html"]
    assert "due" not in first and "paid" not in first
    reader = PdfReader(io.BytesIO(attachments(received)[f"{invoice.number}.pdf"]))
    assert invoice.number in reader.pages[0].extract_text()


def test_an_account_without_contacts_skips_the_email_and_a_statement_is_never_charged(alpha):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("quiet-corp", contacts=()))
        invoice_pdf_render(invoice_id=invoice.pk, now=later(1))
        assert invoice_email_send(invoice_id=invoice.pk, now=later(2)) == 0
        assert invoice_payment_collect(invoice_id=invoice.pk, now=later(3)) == (
            PaymentStatus.NOT_APPLICABLE
        )
        assert invoice.payment_attempts.count() == 0
        delivery = InvoiceDelivery.objects.get(invoice=invoice)
        assert (delivery.email_status, delivery.payment_status) == (
            StepStatus.SKIPPED, PaymentStatus.NOT_APPLICABLE
        )
        assert OutboxMessage.objects.count() == 0


def test_outbox_enqueue_is_idempotent_by_key(alpha, django_capture_on_commit_callbacks):
    with inside(alpha):
        with django_capture_on_commit_callbacks() as queued:
            first = outbox_enqueue(key="budget:1:2020-10:80", to="a@b.test", subject="Budget",
                                   text="80% of the budget is spent")
            again = outbox_enqueue(key="budget:1:2020-10:80", to="other@b.test",
                                   subject="Changed", text="changed")
        assert first.pk == again.pk
        assert (again.to, again.subject, again.status) == ("a@b.test", "Budget", "pending")
        assert OutboxMessage.objects.count() == 1
        assert len(queued) == 1


def test_transient_smtp_failures_back_off_then_fail_and_an_operator_retry_sends(
    alpha, mailbox, settings
):
    settings.TALLY_OUTBOX_MAX_ATTEMPTS = 3
    settings.TALLY_OUTBOX_BACKOFF_SECONDS = 10
    good_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens: connection refused
    with inside(alpha):
        message = outbox_enqueue(key="k-1", to="a@b.test", subject="Hi", text="hello")
        now = ISSUED
        delays = []
        for _ in range(2):
            with pytest.raises(OutboxRetryLater) as retry:
                outbox_deliver(message_id=message.pk, now=now)
            delays.append(retry.value.delay)
            message.refresh_from_db()
            assert message.status == OutboxStatus.PENDING
            assert "ConnectionRefusedError" in message.last_error
            assert message.next_attempt_at == now + timedelta(seconds=retry.value.delay)
            # Not due yet: nothing happens.
            assert outbox_deliver(message_id=message.pk, now=now) is False
            now = message.next_attempt_at
        assert delays == [10.0, 20.0]
        assert outbox_deliver(message_id=message.pk, now=now) is False  # third and last
        message.refresh_from_db()
        assert (message.status, message.attempts) == (OutboxStatus.FAILED, 3)
        assert "ConnectionRefusedError" in message.last_error

        settings.EMAIL_PORT = good_port
        assert outbox_retry(message_id=message.pk) is True
        assert outbox_deliver(message_id=message.pk, now=now) is True
        message.refresh_from_db()
        assert (message.status, message.last_error) == (OutboxStatus.SENT, "")
    assert len(mailbox.messages) == 1


def test_a_message_claimed_by_a_dead_worker_is_sent_after_the_lease(alpha, mailbox, settings):
    settings.TALLY_OUTBOX_LEASE_SECONDS = 60
    with inside(alpha):
        message = outbox_enqueue(key="k-2", to="a@b.test", subject="Hi", text="hello")
        # A worker claimed it and died before sending.
        OutboxMessage.objects.filter(pk=message.pk).update(
            status=OutboxStatus.SENDING, claimed_at=ISSUED, attempts=1
        )
        assert outbox_deliver(message_id=message.pk, now=ISSUED + timedelta(seconds=30)) is False
        assert outbox_deliver(message_id=message.pk, now=ISSUED + timedelta(seconds=61)) is True
        assert outbox_deliver(message_id=message.pk, now=ISSUED + timedelta(seconds=200)) is False
    assert len(mailbox.messages) == 1
