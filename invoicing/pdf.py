"""Invoice PDFs with WeasyPrint.

Rendering reads the finalized invoice (its snapshots and lines), builds HTML from
`templates/invoices/invoice.html` and turns it into a PDF outside any database
transaction. The only URLs WeasyPrint may fetch are Tally's own files under
`static/invoices/` and the rendering provider's own branding folder
(`MEDIA_ROOT/<schema>/branding/`, where its uploaded logo lives); everything else,
another provider's files included, is refused by `invoice_url_fetcher`.

The file lives at a deterministic, tenant-scoped path:
`MEDIA_ROOT/<schema>/invoices/<number>.pdf`. It is written to a temporary file and
renamed into place, so a reader (or a worker killed mid-write) never sees half a PDF.
"""

import hashlib
import os
import socket
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

from django.conf import settings
from django.db import connection
from django.template.loader import render_to_string
from django_tenants.utils import get_public_schema_name

from core.money import round_money
from invoicing.models import Invoice, InvoiceStatus
from invoicing.presenter import invoice_document

INVOICE_ASSETS = Path(settings.BASE_DIR) / "static" / "invoices"
LOGO = INVOICE_ASSETS / "logo.svg"
URL_REFUSED = "invoice rendering may only read Tally's invoice assets, not {url}"


class RefusedUrl(ValueError):
    pass


def _allowed_root() -> Path:
    return INVOICE_ASSETS.resolve()


def url_is_invoice_asset(url: str) -> bool:
    """Only `file://` URLs of files under static/invoices/ (after resolving `..` and links)."""
    if not url.startswith("file://"):
        return False
    path = _asset_path(url).resolve()
    root = _allowed_root()
    return root in path.parents


def provider_branding_root(schema_name: str) -> Path:
    """The one folder of a provider's uploads an invoice may show (tenancy's logo path)."""
    return (Path(settings.MEDIA_ROOT) / schema_name / "branding").resolve()


def url_is_provider_branding(url: str, schema_name: str) -> bool:
    """Only `file://` URLs of files under this provider's own branding folder (after
    resolving `..` and links): never another provider's, never the public schema's."""
    if not url.startswith("file://") or not schema_name:
        return False
    if schema_name == get_public_schema_name():
        return False
    return provider_branding_root(schema_name) in _asset_path(url).resolve().parents


def invoice_url_fetcher(schema_name: str | None = None):
    """WeasyPrint's fetcher, limited to Tally's invoice assets and the provider's own
    branding (`schema_name`, by default the current connection's): no network, no other
    local file (an invoice line's text could otherwise smuggle a URL into the HTML).
    Refused URLs are kept on the fetcher's `refused` list (and WeasyPrint logs a warning)."""
    schema = connection.schema_name if schema_name is None else schema_name
    # Deferred on purpose: importing WeasyPrint (Pango and cairo through cffi) takes about
    # 0.5 s and 40 MB, and every Django process imports this module (admin -> delivery ->
    # pdf): only a process that renders a PDF should pay for it.
    from weasyprint.urls import URLFetcher

    class InvoiceAssetFetcher(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols={"file"}, allow_redirects=False)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            if not (url_is_invoice_asset(url) or url_is_provider_branding(url, schema)):
                self.refused.append(url)
                raise RefusedUrl(URL_REFUSED.format(url=url))
            return super().fetch(url, headers)

    return InvoiceAssetFetcher()


def pdf_relative_path(*, schema_name: str, number: str) -> str:
    safe = "".join(c for c in number if c.isalnum() or c in "-_")
    return f"{schema_name}/invoices/{safe}.pdf"


def pdf_absolute_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def money_text(value: Decimal, currency: str) -> str:
    """An amount as printed: the currency's minor unit, thousands separated (1,234.50)."""
    return format(round_money(value, currency), ",")


def invoice_document_context(*, invoice: Invoice) -> dict:
    """Everything the template prints: the one document model the HTML page and the
    CSV/JSON export read too (invoicing/presenter.py), plus the logo to print."""
    document = invoice_document(invoice=invoice)
    return {"doc": document, "logo": invoice_logo_url(document.provider["logo"])}


def invoice_logo_url(provider_logo: str) -> str:
    """The provider's uploaded logo where the fetcher may read it (its own branding
    folder, the file present); else Tally's bundled one, never a broken image."""
    if provider_logo and url_is_provider_branding(provider_logo, connection.schema_name):
        if _asset_path(provider_logo).is_file():
            return provider_logo
    return LOGO.resolve().as_uri()


def invoice_html(*, invoice: Invoice) -> str:
    return render_to_string("invoices/invoice.html", invoice_document_context(invoice=invoice))


def _asset_path(url: str) -> Path:
    return Path(unquote(url[len("file://"):].split("?", 1)[0].split("#", 1)[0]))


def html_to_pdf(html: str, fetcher=None) -> bytes:
    """The PDF of `html`, by this process's warm renderer (invoicing/pdf_renderer.py)."""
    # Deferred on purpose, like the fetcher's base class (see invoice_url_fetcher).
    from invoicing.pdf_renderer import warm_renderer

    base_url = INVOICE_ASSETS.parent.resolve().as_uri() + "/"
    fetcher = fetcher or invoice_url_fetcher()
    renderer = warm_renderer(is_asset=url_is_invoice_asset, asset_path=_asset_path)
    return renderer.render(html, base_url=base_url, url_fetcher=fetcher)


def _in_transaction() -> bool:
    # The atomic block a test case wraps each test in does not count.
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


@dataclass(frozen=True)
class StoredPdf:
    relative_path: str
    sha256: str
    created: bool


TEMP_PREFIX = ".rendering-"


def _temp_prefix() -> str:
    # Host and process in the name: a later render can tell a dead renderer's leftover
    # from a file another live process is still writing.
    return f"{TEMP_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale_temps(directory: Path) -> None:
    """Remove half-written renders left by a worker killed on this host."""
    host_prefix = f"{TEMP_PREFIX}{socket.gethostname()}-"
    if not directory.is_dir():
        return
    for path in directory.glob(f"{host_prefix}*.pdf"):
        pid = path.name[len(host_prefix):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            path.unlink(missing_ok=True)


def invoice_pdf_store(*, invoice: Invoice) -> StoredPdf:
    """Render the invoice's PDF once to its deterministic path.

    Must run outside a transaction (rendering takes time and holds no locks). If the
    file is already there, it is the one: it is never rendered again, so a PDF that
    was emailed is the PDF that stays downloadable.
    """
    if _in_transaction():
        raise RuntimeError("render invoice PDFs outside database transactions")
    # A voided invoice is rendered again, with its VOID mark, beside the original.
    name = f"{invoice.number}-VOID" if invoice.status == InvoiceStatus.VOID else invoice.number
    relative = pdf_relative_path(schema_name=connection.schema_name, number=name)
    target = pdf_absolute_path(relative)
    _sweep_stale_temps(target.parent)
    if target.is_file():
        return StoredPdf(relative, hashlib.sha256(target.read_bytes()).hexdigest(), False)
    data = html_to_pdf(invoice_html(invoice=invoice))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=_temp_prefix(), suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        # link() fails if another worker got there first: theirs stays, ours goes.
        try:
            os.link(temp, target)
            created = True
        except FileExistsError:
            created = False
    finally:
        os.unlink(temp)
    return StoredPdf(relative, hashlib.sha256(target.read_bytes()).hexdigest(), created)
