"""The warm PDF renderer: what every invoice shares is prepared once per process.

A cold WeasyPrint render pays, for every document, for a new font configuration
(fontconfig and Pango's font map), for fetching and parsing the invoice stylesheet,
and for decoding the logo. A worker renders thousands of invoices that share all of
them, so one `WarmRenderer` per process (per thread: WeasyPrint's objects are not
shared across threads) keeps:

- one `FontConfiguration`;
- each stylesheet the invoice template links to under `static/invoices/`, parsed once
  (`weasyprint.CSS`) and given to every render in place of its `<link>`; the file's
  modification time is part of the key, so an edited stylesheet is parsed again;
- WeasyPrint's image cache (the logo, decoded once).

Fonts are subset, not embedded whole: measured (bench/pdf.py, bench/RESULTS.md), a
full DejaVu embedding makes a one-page invoice about 800 KB and its render 3-4x
slower than the HarfBuzz subset (about 9 KB), which `dev.py` checks is installed.

Two costs of WeasyPrint's own grow with every element, and the renderer removes both
(bench/pdf.py, ten-page invoice of 200 lines, about 2,000 cells: warm CPU median 2,156
-> 1,530 ms, one page 121 -> 104 ms, same load; pages pixel-identical):

- WeasyPrint's user-agent stylesheet gives *every* element six pseudo-elements
  (`::marker`, `::footnote-call`, `::footnote-marker`, `::note-call`, `::note-marker`,
  `::note-callback`), each a computed style of its own: 12,000 styles for a ten-page
  invoice, a fifth of the render. An invoice has no footnotes, no notes and no lists
  but `li`'s, so the renderer's documents use the same sheet with the footnote and note
  rules dropped and `::marker` kept for `li` only (`invoice_ua_stylesheet`).
- Python's cyclic garbage collector: a render allocates some hundred thousand boxes
  and styles that live until the PDF is written, and the collector runs over them (and
  over every object of a Django process) again and again: a quarter of the render.
  Collection is paused while a render runs (`collector_paused`) and the render's
  garbage collected once, after it.

The templates stay where they are (templates/invoices/): this module only changes how
their HTML becomes a PDF. Only the stylesheets the URL fetcher allows (Tally's own
invoice assets) are pre-parsed; any other `<link>` goes through the fetcher as before.
"""

import gc
import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

# Imported only by invoicing.pdf's render path, never at Django start-up: importing
# WeasyPrint (Pango and cairo through cffi) takes about 0.5 s and 40 MB.
import cssselect2
from weasyprint import CSS, HTML
from weasyprint.css.counters import CounterStyle
from weasyprint.html import UA
from weasyprint.text.fonts import FontConfiguration

logger = logging.getLogger(__name__)


# Rules of WeasyPrint's user-agent sheet that match every element (lines starting `::`).
UA_PSEUDO_RULES_KEPT = {"::marker": "li::marker"}


def invoice_ua_stylesheet_text(ua_text: str = UA) -> str:
    """WeasyPrint's user-agent sheet without the pseudo-element rules that match every
    element: `::marker` scoped to `li`, the footnote and note ones dropped."""
    lines = []
    for line in ua_text.splitlines():
        if line.startswith("::"):
            selector = line.split("{", 1)[0].strip()
            if selector not in UA_PSEUDO_RULES_KEPT:
                continue
            line = UA_PSEUDO_RULES_KEPT[selector] + line[len(selector):]
        lines.append(line)
    return "\n".join(lines)


class InvoiceHTML(HTML):
    """An HTML document laid out with `invoice_ua_stylesheet` as its user-agent sheet.

    `_ua_stylesheets` is where `Document._build_layout_context` takes the user-agent
    sheet from (WeasyPrint 70, pinned); tests/invoicing/test_pdf_renderer.py fails if a
    new WeasyPrint stops asking for it."""

    ua_stylesheet: CSS

    def _ua_stylesheets(self, forms=False):
        return [self.ua_stylesheet]


_collector_lock = threading.Lock()
_renders_running = 0
_collector_was_enabled = False


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off while any render runs (in any thread),
    back as it was after the last one ends, and that render's garbage collected then."""
    global _renders_running, _collector_was_enabled
    with _collector_lock:
        if _renders_running == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _renders_running += 1
    try:
        yield
    finally:
        with _collector_lock:
            _renders_running -= 1
            resume = _renders_running == 0 and _collector_was_enabled
            if resume:
                gc.enable()
        if resume:
            # The render's boxes are all young (no collection ran since they were
            # made): one pass over the youngest generations frees their cycles.
            gc.collect(1)


class WarmRenderer:
    """One process's (one thread's) WeasyPrint state kept between renders."""

    def __init__(self, *, is_asset, asset_path) -> None:
        self.font_config = FontConfiguration()
        # Its @counter-style rules are WeasyPrint's own, already in the counter styles
        # every document starts from: parsed into a throwaway set, not defined twice.
        self.ua_stylesheet = CSS(string=invoice_ua_stylesheet_text(),
                                 counter_style=CounterStyle())
        self.image_cache: dict = {}
        self._stylesheets: dict[tuple[str, int], CSS] = {}
        self._is_asset = is_asset
        self._asset_path = asset_path

    def render(self, html: str, *, base_url: str, url_fetcher) -> bytes:
        with collector_paused():
            document = InvoiceHTML(string=html, base_url=base_url, url_fetcher=url_fetcher)
            document.ua_stylesheet = self.ua_stylesheet
            stylesheets = self._take_asset_links(document, url_fetcher)
            return document.write_pdf(font_config=self.font_config,
                                      stylesheets=stylesheets, cache=self.image_cache)

    def _take_asset_links(self, document: HTML, url_fetcher) -> list[CSS]:
        """Remove the document's `<link rel=stylesheet>` to invoice assets and return
        their parsed stylesheets, in document order."""
        sheets = []
        root = document.etree_element
        for parent in list(root.iter()):
            for element in list(parent):
                if element.tag != "link" or "stylesheet" not in element.get("rel", "").split():
                    continue
                url = urljoin(document.base_url or "", element.get("href", ""))
                if not self._is_asset(url):
                    continue
                sheets.append(self._stylesheet(url, url_fetcher))
                parent.remove(element)
        if sheets:
            # The wrapper reads the tree's children as it walks it: rebuilt from the
            # edited tree, exactly as HTML.__init__ builds it.
            document.wrapper_element = cssselect2.ElementWrapper.from_html_root(
                root, content_language=None)
            document.etree_element = document.wrapper_element.etree_element
        return sheets

    def _stylesheet(self, url: str, url_fetcher) -> CSS:
        path = Path(self._asset_path(url))
        key = (url, path.stat().st_mtime_ns)
        sheet = self._stylesheets.get(key)
        if sheet is None:
            sheet = CSS(url=url, url_fetcher=url_fetcher, font_config=self.font_config)
            self._stylesheets = {k: v for k, v in self._stylesheets.items() if k[0] != url}
            self._stylesheets[key] = sheet
        return sheet


_local = threading.local()


def warm_renderer(*, is_asset, asset_path) -> WarmRenderer:
    """This thread's renderer, made on its first render."""
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        renderer = _local.renderer = WarmRenderer(is_asset=is_asset, asset_path=asset_path)
    return renderer
