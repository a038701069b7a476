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

The templates stay where they are (templates/invoices/): this module only changes how
their HTML becomes a PDF. Only the stylesheets the URL fetcher allows (Tally's own
invoice assets) are pre-parsed; any other `<link>` goes through the fetcher as before.
"""

import logging
import threading
from pathlib import Path
from urllib.parse import urljoin

# Imported only by invoicing.pdf's render path, never at Django start-up: importing
# WeasyPrint (Pango and cairo through cffi) takes about 0.5 s and 40 MB.
import cssselect2
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

logger = logging.getLogger(__name__)


class WarmRenderer:
    """One process's (one thread's) WeasyPrint state kept between renders."""

    def __init__(self, *, is_asset, asset_path) -> None:
        self.font_config = FontConfiguration()
        self.image_cache: dict = {}
        self._stylesheets: dict[tuple[str, int], CSS] = {}
        self._is_asset = is_asset
        self._asset_path = asset_path

    def render(self, html: str, *, base_url: str, url_fetcher) -> bytes:
        document = HTML(string=html, base_url=base_url, url_fetcher=url_fetcher)
        stylesheets = self._take_asset_links(document, url_fetcher)
        return document.write_pdf(font_config=self.font_config, stylesheets=stylesheets,
                                  cache=self.image_cache)

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
