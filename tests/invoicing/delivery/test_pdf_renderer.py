"""The warm renderer's shortcuts (invoicing/pdf_renderer.py) change nothing a reader sees.

It lays invoices out with a trimmed copy of WeasyPrint's user-agent sheet and with
Python's garbage collector paused: the pages must come out pixel for pixel as stock
WeasyPrint draws them, lists must keep their bullets, and the collector must be left as
it was found, whichever thread renders.
"""

import gc
import io
import shutil
import subprocess
import threading

import pytest
from pypdf import PdfReader
from weasyprint import CSS, HTML

from invoicing.pdf import INVOICE_ASSETS, html_to_pdf, invoice_html, invoice_url_fetcher
from invoicing.pdf_renderer import InvoiceHTML
from tests.conftest import inside
from tests.invoicing.delivery.conftest import make_account, make_finalized_invoice


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split())
                    for page in PdfReader(io.BytesIO(data)).pages)


def page_images(data: bytes, tmp_path, name: str) -> list[bytes]:
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(data)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(source), str(tmp_path / name)],
                   check=True)
    return [path.read_bytes() for path in sorted(tmp_path.glob(f"{name}-*.png"))]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_a_long_invoice_looks_exactly_as_stock_weasyprint_draws_it(alpha, tmp_path):
    with inside(alpha):
        invoice = make_finalized_invoice(make_account("pixel-corp"), usage_lines=30)
        html = invoice_html(invoice=invoice)
        warm = html_to_pdf(html)
        stock = HTML(string=html, base_url=INVOICE_ASSETS.parent.resolve().as_uri() + "/",
                     url_fetcher=invoice_url_fetcher()).write_pdf()
    warm_pages = page_images(warm, tmp_path, "warm")
    assert len(warm_pages) >= 2
    assert warm_pages == page_images(stock, tmp_path, "stock")
    assert f"Page {len(warm_pages)} of {len(warm_pages)}" in pdf_text(warm)


def test_a_list_keeps_its_bullets_and_the_trimmed_sheet_is_the_one_used():
    text = pdf_text(html_to_pdf("<ul><li>milk</li></ul>"))
    assert "•" in text and "milk" in text
    # WeasyPrint takes the user-agent sheet from HTML._ua_stylesheets: if a new version
    # stopped asking, the renderer would silently lose the trim.
    document = InvoiceHTML(string="<p>visible</p><p class=x>hidden</p>")
    document.ua_stylesheet = CSS(string="p { display: block } .x { display: none }")
    text = pdf_text(document.write_pdf())
    assert "visible" in text and "hidden" not in text


def test_rendering_leaves_the_garbage_collector_as_it_found_it():
    assert gc.isenabled()
    html_to_pdf("<p>one</p>")
    assert gc.isenabled()

    gc.disable()
    try:
        html_to_pdf("<p>two</p>")
        assert not gc.isenabled()
    finally:
        gc.enable()

    results, errors = [], []

    def render(word):
        try:
            results.append(pdf_text(html_to_pdf(f"<p>{word}</p>" * 200)))
        except Exception as error:  # noqa: BLE001 (reported by the assertion below)
            errors.append(error)

    threads = [threading.Thread(target=render, args=(w,)) for w in ("north", "south")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(text.split()[0] for text in results) == ["north", "south"]
    assert gc.isenabled()
