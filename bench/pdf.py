"""PDF benchmark: a one-page and a ten-page invoice, ms per invoice and peak memory.

    .venv/bin/python bench/pdf.py --scale small|full

The real path: invoicing.pdf's renderer (invoice_html: the context from the
database and the template; html_to_pdf: WeasyPrint with the invoice URL fetcher).
The ten-page invoice gets as many lines as make ten pages (counted with pypdf).
Each case renders in a child process of its own, so its peak memory (max RSS) is its
own: cold (first render), then warm renders (small 10, full 50; median and p90).
Beside them, the physical limit in the same run: WeasyPrint rendering an empty page.
Each warm render's CPU time (the process's own, `time.process_time`) is printed too: on
a shared machine the wall time mostly measures the other processes, the CPU time is
close to what a quiet machine's wall time would be.
Skips with a message when invoicing/pdf.py has no renderer. Fails, loudly, when
WeasyPrint warns (a Python warning at import, such as HarfBuzz-Subset missing, or a
warning logged while rendering): a figure measured on a degraded stack is no figure.
"""

import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SCALES = {"small": 10, "full": 50}
CYCLE_START = datetime(2026, 10, 1, tzinfo=UTC)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--child", nargs=3, metavar=("SLUG", "INVOICE", "REPEATS"),
                   help=argparse_hidden())
    args = p.parse_args()
    common.setup(args, migrate=not args.child)
    _weasyprint_import_checked()
    try:
        from invoicing.pdf import html_to_pdf, invoice_html  # noqa: F401
    except ImportError:
        print("SKIPPED: invoicing/pdf.py has no renderer yet (invoice_html, html_to_pdf)")
        return
    if args.child:
        return _child(*args.child)
    repeats = SCALES[args.scale]
    info = common.machine()
    common.print_machine(info)
    provider = common.provider_new("bench-pdf")
    try:
        with common.inside(provider):
            one = _invoice("one-page", 8)
            lines = _lines_for_pages(provider, 10)
            ten = _invoice("ten-pages", lines)
        rows = []
        for label, invoice_id in (("empty page (WeasyPrint only)", 0),
                                  ("one-page invoice", one), (f"ten-page invoice ({lines} lines)",
                                                              ten)):
            common.say(f"rendering: {label}")
            rows.append((label, _run_child(args, provider.slug, invoice_id, repeats)))
        _report(rows, repeats, info)
    finally:
        if not args.keep:
            common.provider_drop(provider)


class _Warnings(logging.Handler):
    """WeasyPrint's logged warnings and errors, kept to fail the run with."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


WEASYPRINT_WARNINGS = _Warnings()


def _loud_failure(lines: list[str]) -> None:
    bar = "!" * 78
    print(f"\n{bar}\nWeasyPrint warned: these figures would not be the product's.",
          file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    print("Install what it asks for (Debian: libharfbuzz-subset0, libpango-1.0-0, "
          "libpangoft2-1.0-0; `python3 dev.py check-system` checks) and run again.\n"
          f"{bar}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def _weasyprint_import_checked() -> None:
    """Import WeasyPrint with every warning recorded, and log its later ones."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import weasyprint  # noqa: F401
        from weasyprint.text.ffi import harfbuzz_subset
    found = [f"{w.category.__name__}: {w.message}" for w in caught
             if "weasyprint" in (w.filename or "") or "weasyprint" in str(w.message).lower()
             or "HarfBuzz" in str(w.message)]
    if harfbuzz_subset is None:
        found.append("libharfbuzz-subset is missing: fonts are subset by fontTools, "
                     "about 60% of a render")
    if found:
        _loud_failure(found)
    logging.getLogger("weasyprint").addHandler(WEASYPRINT_WARNINGS)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


def _invoice(label: str, lines: int) -> int:
    from accounts.models import BillingAccount, Organization
    from cycles.models import BillingCycle
    from invoicing.models import Invoice, InvoiceLine, LineKind

    cycle, _ = BillingCycle.objects.get_or_create(
        label="2026-10", defaults={"start": CYCLE_START, "end": datetime(2026, 11, 1, tzinfo=UTC)})
    org = Organization.objects.create(name=f"org-{label}", display_name=f"Org {label}")
    account = BillingAccount.objects.create(organization=org, name="Main", is_default=True)
    invoice = Invoice.objects.create(billing_account=account, cycle=cycle, currency="EUR",
                                     account_name="Main", organization_name=org.display_name,
                                     provider_name="Bench Cloud")
    rows = []
    for n in range(lines):
        amount = Decimal("12.34") + n
        rows.append(InvoiceLine(
            invoice=invoice, kind=LineKind.USAGE, period_start=CYCLE_START + timedelta(days=n % 28),
            period_end=datetime(2026, 11, 1, tzinfo=UTC), project_name=f"project-{n % 17}",
            organization_name=org.display_name, metric_key="instance", variant=f"v{n % 20:02d}",
            region="mars", service_class="standard",
            description=f"Usage of 4 CPU, 16 GB memory instances for project project-{n % 17}",
            resource_label="Instance: 4 CPU, 16 GB", resource_count=n % 9 + 1,
            quantity=Decimal("744.000000"), unit="hour", rate=Decimal("0.0125"), amount=amount,
            sort_key=f"{n:06d}",
        ))
    InvoiceLine.objects.bulk_create(rows)
    total = sum(r.amount for r in rows)
    Invoice.objects.filter(pk=invoice.pk).update(subtotal=total, total=total)
    return invoice.pk


def _pages(invoice_id: int) -> int:
    import io

    from pypdf import PdfReader

    from invoicing.models import Invoice
    from invoicing.pdf import html_to_pdf, invoice_html

    data = html_to_pdf(invoice_html(invoice=Invoice.objects.get(pk=invoice_id)))
    return len(PdfReader(io.BytesIO(data)).pages)


def _lines_for_pages(provider, pages: int) -> int:
    """How many lines make `pages` pages: measured, not guessed."""
    from invoicing.models import Invoice

    lines = 200
    for _ in range(6):
        probe = _invoice(f"probe-{lines}", lines)
        found = _pages(probe)
        Invoice.objects.filter(pk=probe).delete()
        if found == pages:
            return lines
        lines = max(1, int(lines * (pages - 0.5) / found))
    return lines


def _run_child(args, slug: str, invoice_id: int, repeats: int) -> dict:
    argv = [sys.executable, __file__, "--database", args.database, "--redis", args.redis,
            "--child", slug, str(invoice_id), str(repeats)]
    out = subprocess.run(argv, env=os.environ.copy(), capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stdout[-4000:], out.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"the render child failed (exit {out.returncode})")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result.get("warnings"):
        _loud_failure(result["warnings"])
    return result


def _child(slug: str, invoice_id: str, repeats: str) -> None:
    from weasyprint import HTML

    from invoicing.models import Invoice
    from invoicing.pdf import html_to_pdf, invoice_html
    from tenancy.models import Provider

    invoice_id, repeats = int(invoice_id), int(repeats)
    _reset_peak()
    baseline = _rss_mb("VmRSS")

    with common.inside(Provider.objects.get(slug=slug)):
        def render() -> bytes:
            if invoice_id == 0:
                return HTML(string="<html><body></body></html>").write_pdf()
            return html_to_pdf(invoice_html(invoice=Invoice.objects.get(pk=invoice_id)))

        started = time.perf_counter()
        size = len(render())
        cold = time.perf_counter() - started
        warm, warm_cpu = [], []
        for _ in range(repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            render()
            warm.append(time.perf_counter() - started)
            warm_cpu.append(time.process_time() - started_cpu)
    peak = _rss_mb("VmHWM")
    print(json.dumps({"cold_ms": cold * 1000, "median_ms": statistics.median(warm) * 1000,
                      "p90_ms": common.percentile(warm, 90) * 1000, "bytes": size,
                      "cpu_median_ms": statistics.median(warm_cpu) * 1000,
                      "baseline_mb": baseline, "peak_mb": peak,
                      "warnings": WEASYPRINT_WARNINGS.messages}))


def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def _reset_peak() -> None:
    """Start the peak (VmHWM) from here: imports and setup are not the render's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _report(rows, repeats: int, info: dict) -> None:
    print()
    common.say(f"PDF, {repeats} warm renders each, {info['nproc']} cpu, load {common.load()}")
    common.table(
        [(label, f"{r['cold_ms']:.0f}", f"{r['median_ms']:.0f}", f"{r['p90_ms']:.0f}",
          f"{r['cpu_median_ms']:.0f}", f"{r['cpu_median_ms'] / rows[0][1]['cpu_median_ms']:.0f}",
          f"{r['peak_mb']:.0f}", f"{r['peak_mb'] - r['baseline_mb']:.0f}",
          f"{r['bytes'] / 1024:.0f}")
         for label, r in rows],
        ("document", "cold ms", "warm median ms", "warm p90 ms", "warm CPU median ms",
         "CPU / empty page's", "peak RSS MB",
         "over setup MB", "PDF KB"),
    )
    one = rows[1][1]["median_ms"]
    print(f"\none page warm: {one:.0f} ms (target < 200 ms): {'met' if one < 200 else 'missed'}")


if __name__ == "__main__":
    main()
