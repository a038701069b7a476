"""Invoice PDFs with WeasyPrint.

Rendering reads the finalized invoice (its snapshots and lines), builds HTML from
`templates/invoices/invoice.html` and turns it into a PDF outside any database
transaction. The only URLs WeasyPrint may fetch are Tally's own files under
`static/invoices/`; everything else is refused by `invoice_url_fetcher`.

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

from core.money import round_money
from core.timefmt import date_text, period_text
from invoicing.models import Invoice, InvoiceStatus, LineKind
from tenancy.selectors import provider_current

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


def invoice_url_fetcher():
    """WeasyPrint's fetcher, limited to Tally's invoice assets: no network, no other local
    file (an invoice line's text could otherwise smuggle a URL into the HTML). Refused
    URLs are kept on the fetcher's `refused` list (and WeasyPrint logs a warning)."""
    # Deferred on purpose: importing WeasyPrint (Pango and cairo through cffi) takes about
    # 0.5 s and 40 MB, and every Django process imports this module (admin -> delivery ->
    # pdf): only a process that renders a PDF should pay for it.
    from weasyprint.urls import URLFetcher

    class InvoiceAssetFetcher(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols={"file"}, allow_redirects=False)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            if not url_is_invoice_asset(url):
                self.refused.append(url)
                raise RefusedUrl(URL_REFUSED.format(url=url))
            return super().fetch(url, headers)

    return InvoiceAssetFetcher()


def pdf_relative_path(*, schema_name: str, number: str) -> str:
    safe = "".join(c for c in number if c.isalnum() or c in "-_")
    return f"{schema_name}/invoices/{safe}.pdf"


def pdf_absolute_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros (quantities and rates)."""
    text = format(value.normalize(), "f")
    return text


def money_text(value: Decimal, currency: str) -> str:
    """An amount as printed: the currency's minor unit, thousands separated (1,234.50)."""
    return format(round_money(value, currency), ",")


@dataclass(frozen=True)
class PrintedLine:
    kind: str
    period: str
    region: str
    description: str
    credit_note: str
    resource: str
    project: str
    quantity: str
    rate: str
    amount: str


def invoice_document_context(*, invoice: Invoice) -> dict:
    """Everything the template prints, as plain strings (no lazy queries in the template).
    Dates are in the provider's billing zone, named once in the header and the Period
    column's heading (the lines' periods do not repeat it)."""
    provider = provider_current()
    zone = provider.billing_timezone

    lines = []
    for line in invoice.lines.all().order_by("sort_key", "id"):
        details = line.details or {}
        note = ""
        if line.kind == LineKind.CREDIT:
            name = details.get("credit_name", "")
            text = details.get("credit_description", "")
            note = f"{name}: {text}" if name and text else (name or text)
        rate = _plain(line.rate)
        if "." not in rate or len(rate.split(".")[1]) < 2:
            rate = format(line.rate.quantize(Decimal("0.01")), "f")  # exact: fewer digits
        lines.append(PrintedLine(
            kind=line.kind,
            period=period_text(line.period_start, line.period_end, zone, named=False),
            region=line.region,
            description=line.description,
            credit_note=note,
            resource=line.resource_label,
            project=line.project_name,
            quantity=f"{_plain(line.quantity)} {line.unit}".strip(),
            rate=f"{rate} per {line.unit}" if line.unit else rate,
            amount=money_text(line.amount, invoice.currency),
        ))
    cycle = invoice.cycle
    account = invoice.billing_account
    profile = getattr(account, "payment_profile", None) if account.payment_kind == "card" else None
    return {
        "invoice": invoice,
        "title": "Statement" if account.payment_kind == "chargeback" else "Invoice",
        "is_statement": account.payment_kind == "chargeback",
        "card": str(profile) if profile and profile.last4 else "",
        "provider_name": invoice.provider_name or provider.name,
        "provider_address": invoice.provider_address or provider.address,
        "account_name": invoice.account_name or account.name,
        "organization_name": invoice.organization_name or str(account.organization),
        "period": period_text(cycle.start, cycle.end, zone),
        "zone": zone,
        "issued": date_text(invoice.issued_at, zone) if invoice.issued_at else "",
        "due": date_text(invoice.due_at, zone) if invoice.due_at else "",
        "logo": LOGO.resolve().as_uri(),
        "lines": lines,
        "subtotal": f"{invoice.currency} {money_text(invoice.subtotal, invoice.currency)}",
        "total": f"{invoice.currency} {money_text(invoice.total, invoice.currency)}",
        "voided": invoice.status == InvoiceStatus.VOID,
    }


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
    relative = pdf_relative_path(schema_name=connection.schema_name, number=invoice.number)
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
