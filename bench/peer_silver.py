"""Peer benchmark: Tally beside django-silver 0.11.1, same accounts, same sitting.

    .venv/bin/python bench/peer_silver.py --accounts 500 [--rounds 3] [--pdfs 50]

The recipe is /work/shared/docs/PEER-SILVER.md. Silver runs in a virtualenv of its own
(`.tally/silver-peer/venv`, made on first use: django-silver 0.11.1 and
psycopg2-binary; its pins clash with Tally's), on the same PostgreSQL server as
Tally (the machine's, 127.0.0.1:5432), so both pay the same database.

The same accounts in both: N customers (billing accounts), each on a monthly plan of
29.00 USD with metered API calls (1,000 included, 0.05 a call above), with three usage
records in October 2026 of randint(100, 600) calls each (seed 42). In Tally: a
provider that sells offers, an offer "Pro" with a recurring charge of 29.00 and a
per-unit charge with 1,000 free units, one entitlement per account from 1 October,
three usage events per account. Each invoice has two lines in both.

Each round, alternately (silver first in odd rounds, Tally first in even ones):

- close: a fresh copy of the accounts (silver: `createdb -T` of a template; Tally: a
  new provider); then the whole job as a process from start to exit, timed with its
  start-up: silver `generate_docs --date 2026-11-01` (generates, issues and numbers);
  Tally `cycle_close` of October (marks closing, rates, finalizes and numbers,
  queues delivery);
- PDF: the first `--pdfs` invoices, one process each side, per-document times
  (silver `generate_pdf()`: xhtml2pdf, stored; Tally `invoice_pdf_store`: WeasyPrint
  through the warm renderer, stored).

It prints the load at the start, each round's figures, the medians of the rounds and
the ratios: close (Tally invoices/s over silver's, process wall) and PDF (Tally's
median ms per document over silver's). Both totals are checked against the same
formula, per account.
"""

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PEER = common.ROOT / ".tally" / "silver-peer"
VENV_PY = PEER / "venv" / "bin" / "python"
# typing_extensions: django-annoying imports it without requiring it.
PINS = ["django-silver==0.11.1", "psycopg2-binary<2.10", "typing_extensions"]
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
CLOSE_AT = datetime(2026, 11, 3, tzinfo=UTC)
THIRDS = (((10, 1), (10, 10)), ((10, 11), (10, 20)), ((10, 21), (10, 31)))


def usage(accounts: int) -> list[tuple[int, int, int]]:
    """The three records of each account, as the recipe draws them (seed 42)."""
    rng = random.Random(42)
    return [tuple(rng.randint(100, 600) for _ in THIRDS) for _ in range(accounts)]


def expected_total(units: tuple[int, ...]) -> Decimal:
    return Decimal("29.00") + max(0, sum(units) - 1000) * Decimal("0.05")


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], scales=("peer",))
    p.add_argument("--accounts", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pdfs", type=int, default=50)
    p.add_argument("--tally-child", nargs=2, metavar=("JOB", "SLUG"), help=argparse_hidden())
    args = p.parse_args()
    common.setup(args, migrate=not args.tally_child)
    if args.tally_child:
        return _tally_child(*args.tally_child, pdfs=args.pdfs)
    started = time.perf_counter()
    info = common.machine()
    common.print_machine(info)
    common.say(f"load at start: {info['load']}")
    silver = Silver(args.accounts)
    silver.prepare()
    rounds = []
    for n in range(1, args.rounds + 1):
        order = ("silver", "tally") if n % 2 else ("tally", "silver")
        figures = {"load": common.load()}
        for side in order:
            common.say(f"round {n}: {side}")
            figures[side] = silver.run(args.pdfs) if side == "silver" else _tally_round(args)
        rounds.append(figures)
        _print_round(n, figures)
    silver.cleanup()
    _report(rounds, args, info, time.perf_counter() - started)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


# --- Tally ------------------------------------------------------------------------


def _tally_world(accounts: int) -> None:
    from accounts.entitlements import entitlement_accept
    from accounts.models import BillingAccount, Organization, Project, ProjectAccountAssignment
    from catalog.services.features import service_create
    from catalog.services.metrics import metric_create
    from catalog.services.offers import OfferContent, offer_create
    from metering.usage_ingest import usage_events_ingest

    service_create(key="api", name="API")
    metric_create(key="api.calls", name="API calls", aggregation="sum", service_key="api",
                  unit="call")
    offer_create(key="pro", name="Pro", now=OCTOBER, content=OfferContent(
        services=["api"],
        charges=[{"model": "recurring", "name": "Pro plan", "amount": "29.00", "service": "api"},
                 {"model": "per_unit", "name": "API calls", "metric": "api.calls",
                  "unit_price": "0.05", "free_units": "1000"}]))
    orgs = Organization.objects.bulk_create([
        Organization(name=f"acct-{n:05d}", display_name=f"Company {n:05d}")
        for n in range(accounts)])
    billing = BillingAccount.objects.bulk_create([
        BillingAccount(organization=org, name=f"Company {n:05d}", is_default=True)
        for n, org in enumerate(orgs)])
    projects = Project.objects.bulk_create([
        Project(name=f"sub-{n:05d}", organization=org) for n, org in enumerate(orgs)])
    ProjectAccountAssignment.objects.bulk_create([
        ProjectAccountAssignment(project=project, billing_account=account, valid_from=OCTOBER)
        for project, account in zip(projects, billing, strict=True)])
    now = datetime.now(UTC)
    for account in billing:
        entitlement_accept(billing_account=account, offer_key="pro", now=now, at=OCTOBER)
    items = [
        {"event_id": f"u-{n}-{third}", "metric": "api.calls", "project": f"sub-{n:05d}",
         "occurred_at": datetime(2026, *THIRDS[third][0], 12, tzinfo=UTC).isoformat(),
         "value": str(value)}
        for n, units in enumerate(usage(accounts)) for third, value in enumerate(units)]
    for start in range(0, len(items), 1000):
        usage_events_ingest(items=items[start:start + 1000], now=now)


def _tally_round(args) -> dict:
    from django.db import connection

    from tenancy.models import Provider

    provider = common.provider_new("peer", billing_mode="offers", currency="USD")
    # It bills from October 2026, so October's usage is taken (its own import history).
    Provider.objects.filter(pk=provider.pk).update(billing_start=OCTOBER)
    provider.refresh_from_db()
    try:
        with common.inside(provider):
            _tally_world(args.accounts)
        connection.close()
        close = _timed_child(args, "close", provider.slug)
        pdf = _timed_child(args, "pdf", provider.slug)
        with common.inside(provider):
            correct = _tally_correct(args.accounts)
        return {"close_s": close["wall_s"], "invoices": close["invoices"],
                "pdf_median_ms": pdf["median_ms"], "pdf_docs": pdf["docs"], "correct": correct}
    finally:
        common.provider_drop(provider)


def _timed_child(args, job: str, slug: str) -> dict:
    argv = [sys.executable, __file__, "--database", args.database, "--redis", args.redis,
            "--pdfs", str(args.pdfs), "--tally-child", job, slug]
    env = {**os.environ, "MEDIA_ROOT": tempfile.mkdtemp(prefix="peer-media-")}
    started = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"tally {job} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": wall}


def _tally_child(job: str, slug: str, *, pdfs: int) -> None:
    from cycles.models import BillingCycle
    from invoicing.closing import cycle_close
    from invoicing.models import Invoice, InvoiceStatus
    from invoicing.pdf import invoice_pdf_store
    from tenancy.models import Provider

    with common.inside(Provider.objects.get(slug=slug)):
        if job == "close":
            result = cycle_close(cycle=BillingCycle.objects.get(start=OCTOBER), now=CLOSE_AT)
            _purge_deliveries()
            print(json.dumps({"invoices": result.finalized}))
            return
        times = []
        invoices = (Invoice.objects.filter(status=InvoiceStatus.FINALIZED)
                    .select_related("cycle", "billing_account__organization")
                    .order_by("pk")[:pdfs])
        for invoice in invoices:
            started = time.perf_counter()
            invoice_pdf_store(invoice=invoice)
            times.append((time.perf_counter() - started) * 1000)
        print(json.dumps({"docs": len(times), "median_ms": statistics.median(times)}))


def _purge_deliveries() -> None:
    """The close queued each invoice's delivery; no worker runs here."""
    from billing.celery import app

    app.control.purge()


def _tally_correct(accounts: int) -> str:
    from invoicing.models import Invoice, InvoiceStatus

    totals = dict(Invoice.objects.filter(status=InvoiceStatus.FINALIZED)
                  .values_list("billing_account__organization__name", "total"))
    wrong = sum(totals.get(f"acct-{n:05d}") != expected_total(units)
                for n, units in enumerate(usage(accounts)))
    return f"{accounts - wrong}/{accounts}"


# --- silver -----------------------------------------------------------------------

SETTINGS = '''
import os
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "peer"
DEBUG = False
ALLOWED_HOSTS = ["*"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql",
             "NAME": os.environ.get("PEER_DB_NAME", "silver"), "USER": "postgres",
             "PASSWORD": "", "HOST": os.environ.get("PEER_PGHOST", "127.0.0.1")}}
INSTALLED_APPS = ["dal", "dal_select2", "django.contrib.admin", "django.contrib.admindocs",
                  "django.contrib.auth", "django.contrib.contenttypes",
                  "django.contrib.messages", "django.contrib.sessions",
                  "django.contrib.staticfiles", "django_fsm", "rest_framework",
                  "django_filters", "silver"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
ROOT_URLCONF = "silver.urls"
USE_TZ = True
TIME_ZONE = "UTC"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [],
              "APP_DIRS": True, "OPTIONS": {"context_processors": [
                  "django.contrib.auth.context_processors.auth",
                  "django.contrib.messages.context_processors.messages",
                  "django.template.context_processors.request"]}}]
MEDIA_ROOT = BASE_DIR / "app_media"
MEDIA_URL = "/app_media/"
STATIC_ROOT = BASE_DIR / "app_static"
STATIC_URL = "/app_static/"
from silver import HOOK_EVENTS as _HOOK_EVENTS
HOOK_EVENTS = _HOOK_EVENTS
SILVER_DEFAULT_DUE_DAYS = 5
SILVER_DOCUMENT_PREFIX = "documents/"
SILVER_DOCUMENT_STORAGE = None
SILVER_AUTOMATICALLY_CREATE_TRANSACTIONS = True
PAYMENT_PROCESSORS = {"manual": {"class": "silver.payment_processors.manual.ManualProcessor"}}
PAYMENT_METHOD_SECRET = b"QmVuY2hCZW5jaEJlbmNoQmVuY2hCZW5jaEJlbmNoQmU="
REST_FRAMEWORK = {"DEFAULT_PAGINATION_CLASS": "silver.api.pagination.LinkHeaderPagination"}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "root": {"handlers": ["console"], "level": "WARNING"}}
'''

SCRIPT_HEAD = '''
import json, os, random, statistics, sys, time
from datetime import date
from decimal import Decimal
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
import django
django.setup()
from django.db import transaction
'''

BUILD = SCRIPT_HEAD + '''
from silver.models import (Customer, MeteredFeature, MeteredFeatureUnitsLog, Plan, ProductCode,
                           Provider, Subscription)
N = int(sys.argv[1])
rng = random.Random(42)
provider = Provider.objects.create(name="Peer Provider", company="Peer Provider SRL",
    address_1="1 Main St", city="Bucharest", country="RO", flow="invoice",
    invoice_series="INV", invoice_starting_number=1, proforma_series="PRF",
    proforma_starting_number=1, default_document_state="issued")
mf = MeteredFeature.objects.create(name="API calls", unit="call",
    price_per_unit=Decimal("0.0500"), included_units=Decimal("1000.0000"),
    product_code=ProductCode.objects.create(value="api-calls"))
plan = Plan.objects.create(name="Pro", interval="month", interval_count=1,
    amount=Decimal("29.0000"), currency="USD",
    product_code=ProductCode.objects.create(value="plan-pro"), provider=provider,
    prebill_plan=False, generate_after=0)
plan.metered_features.add(mf)
for i in range(N):
    with transaction.atomic():
        c = Customer.objects.create(first_name=f"First{i:05}", last_name=f"Last{i:05}",
            company=f"Company {i:05}", email=f"c{i:05}@example.test",
            address_1=f"{i} Customer Rd", city="Springfield", country="US",
            customer_reference=f"acct-{i:05}")
        s = Subscription(plan=plan, customer=c, start_date=date(2026, 10, 1),
                         reference=f"sub-{i:05}")
        s.activate(start_date=date(2026, 10, 1)); s.save()
        for a, b in [((10, 1), (10, 10)), ((10, 11), (10, 20)), ((10, 21), (10, 31))]:
            MeteredFeatureUnitsLog.objects.create(metered_feature=mf, subscription=s,
                consumed_units=Decimal(rng.randint(100, 600)), start_date=date(2026, *a),
                end_date=date(2026, *b))
'''

GENERATE = SCRIPT_HEAD + '''
from django.core.management import call_command
from silver.models import Invoice
call_command("generate_docs", date=date(2026, 11, 1))
totals = {i.customer.customer_reference: str(i.total) for i in
          Invoice.objects.select_related("customer")}
print(json.dumps({"invoices": Invoice.objects.filter(state="issued").count(),
                  "totals": totals}))
'''

PDFS = SCRIPT_HEAD + '''
from silver.models import Invoice
times = []
for document in Invoice.objects.order_by("id")[:int(sys.argv[1])]:
    started = time.perf_counter()
    document.generate_pdf()
    times.append((time.perf_counter() - started) * 1000)
print(json.dumps({"docs": len(times), "median_ms": statistics.median(times)}))
'''


class Silver:
    """django-silver 0.11.1 in its own venv, on the machine's PostgreSQL."""

    def __init__(self, accounts: int) -> None:
        self.accounts = accounts
        self.project = PEER / "proj"
        self.template = f"silver_peer_tpl{accounts}"

    def _env(self, database: str) -> dict:
        return {**os.environ, "PEER_DB_NAME": database, "PEER_PGHOST": "127.0.0.1",
                "PYTHONPATH": str(self.project), "DJANGO_SETTINGS_MODULE": "peer.settings"}

    def _py(self, database: str, script: str, *argv: str) -> subprocess.CompletedProcess:
        path = self.project / f"{script}.py"
        out = subprocess.run([str(VENV_PY), str(path), *argv], cwd=self.project,
                             env=self._env(database), capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"silver {script} failed:\n{out.stdout[-3000:]}\n"
                             f"{out.stderr[-3000:]}")
        return out

    def prepare(self) -> None:
        if not VENV_PY.exists():
            common.say(f"silver: a virtualenv of its own in {PEER}/venv ({', '.join(PINS)})")
            subprocess.run([sys.executable, "-m", "venv", str(PEER / "venv")], check=True)
            subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", *PINS], check=True)
        (self.project / "peer").mkdir(parents=True, exist_ok=True)
        (self.project / "peer" / "__init__.py").write_text("")
        (self.project / "peer" / "settings.py").write_text(SETTINGS)
        for name, text in (("build_fixture", BUILD), ("bench_gen", GENERATE),
                           ("bench_pdf", PDFS)):
            (self.project / f"{name}.py").write_text(text)
        if not self._exists(self.template):
            common.say(f"silver: migrating and building {self.accounts} customers "
                       f"(template {self.template}, kept for later runs)")
            self._sql(f'CREATE DATABASE "{self.template}"')
            try:
                self._build_template()
            except BaseException:
                self._sql(f'DROP DATABASE IF EXISTS "{self.template}"')  # never half built
                raise

    def _build_template(self) -> None:
        manage = ["-c", "import sys; from django.core.management import "
                  "execute_from_command_line as e; e(sys.argv)"]
        for command in (["migrate", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
            subprocess.run([str(VENV_PY), *manage, *command], cwd=self.project, check=True,
                           env=self._env(self.template))
        self._py(self.template, "build_fixture", str(self.accounts))
        self._sql("VACUUM ANALYZE", database=self.template)

    def run(self, pdfs: int) -> dict:
        database = "silver_peer_run"
        self._sql(f'DROP DATABASE IF EXISTS "{database}"')
        self._sql(f'CREATE DATABASE "{database}" TEMPLATE "{self.template}"')
        self._sql("CHECKPOINT")
        started = time.perf_counter()
        generated = json.loads(self._py(database, "bench_gen").stdout.strip().splitlines()[-1])
        close_s = time.perf_counter() - started
        pdf = json.loads(self._py(database, "bench_pdf", str(pdfs)).stdout.strip()
                         .splitlines()[-1])
        wrong = sum(Decimal(generated["totals"].get(f"acct-{n:05d}", "-1"))
                    != expected_total(units)
                    for n, units in enumerate(usage(self.accounts)))
        return {"close_s": close_s, "invoices": generated["invoices"],
                "pdf_median_ms": pdf["median_ms"], "pdf_docs": pdf["docs"],
                "correct": f"{self.accounts - wrong}/{self.accounts}"}

    def cleanup(self) -> None:
        self._sql('DROP DATABASE IF EXISTS "silver_peer_run"')

    def _exists(self, database: str) -> bool:
        import psycopg

        with psycopg.connect(f"{common.PG}/postgres", autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                [database]).fetchone() is not None

    def _sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(f"{common.PG}/{database}", autocommit=True) as conn:
            conn.execute(statement)


# --- the report -------------------------------------------------------------------


def _print_round(n: int, figures: dict) -> None:
    for side in ("silver", "tally"):
        f = figures[side]
        common.say(f"round {n} {side}: close {f['close_s']:.2f} s for {f['invoices']} "
                   f"invoices ({f['invoices'] / f['close_s']:.1f}/s), PDF median "
                   f"{f['pdf_median_ms']:.0f} ms ({f['pdf_docs']} docs), totals right "
                   f"{f['correct']}")


def _report(rounds: list[dict], args, info: dict, wall: float) -> None:
    print()
    common.say(f"peer bench, {args.accounts} accounts, {args.rounds} rounds, "
               f"{info['nproc']} cpu, load at start {info['load']}, now {common.load()}")
    rows = []
    for n, r in enumerate(rounds, 1):
        s, t = r["silver"], r["tally"]
        rows.append((n, r["load"], f"{s['invoices'] / s['close_s']:.1f}",
                     f"{t['invoices'] / t['close_s']:.1f}",
                     f"{(t['invoices'] / t['close_s']) / (s['invoices'] / s['close_s']):.1f}",
                     f"{s['pdf_median_ms']:.0f}", f"{t['pdf_median_ms']:.0f}",
                     f"{t['pdf_median_ms'] / s['pdf_median_ms']:.2f}",
                     f"{s['correct']} / {t['correct']}"))
    common.table(rows, ("round", "load", "silver inv/s", "tally inv/s", "close ratio",
                        "silver PDF ms", "tally PDF ms", "PDF ratio", "totals right s/t"))
    close = statistics.median(float(row[4]) for row in rows)
    pdf = statistics.median(float(row[7]) for row in rows)
    print(f"\nmedian close ratio (Tally invoices/s over silver's, whole process): {close:.1f} "
          f"(goal >= 10)\nmedian PDF ratio (Tally ms per document over silver's): {pdf:.2f} "
          f"(goal <= 1.0)\nwhole job wall time: {wall:.0f} s")


if __name__ == "__main__":
    main()
