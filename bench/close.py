"""Month-close benchmark: billing accounts x 20 lines finalized and numbered, killed
mid-run with a signal and resumed, then checked for duplicates and gaps.

    .venv/bin/python bench/close.py --scale small|medium|full

The real path: invoicing.closing.cycle_close (mark closing, last rating run, budgets,
then set-based finalization: batches of invoices numbered from the locked counter
row with row_number(), each batch one transaction, delivery queued after commit) in a
child process. Scales: small 500, medium 2,000, full 10,000 accounts, each with one
resource resized through 20 variants (20 lines). Batches are a tenth of the accounts
(at most the product's 1,000), so the kill lands in the middle of the
finalizations. The parent watches the finalized count, kills the child with SIGKILL
once 40% are finalized, starts it again, and checks: every invoice finalized once,
numbers 1..N with no gap and no duplicate, the counter at N, the cycle closed.
Beside the rates, the whole job: each run's wall time as a process, start-up,
rating and finalization included. The limit in the same run: a loop of empty
transactions, and of one-row-update transactions (what a finalization per
transaction used to pay per invoice).
"""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import world  # noqa: E402

SCALES = {"small": 500, "medium": 2_000, "full": 10_000}
CYCLE_START = datetime(2026, 10, 1, tzinfo=UTC)
CYCLE_END = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 2, tzinfo=UTC)
KILL_AT = 0.4
LOOP = 2_000


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], scales=tuple(SCALES))
    p.add_argument("--close-in", help=argparse_hidden())
    args = p.parse_args()
    common.setup(args, migrate=not args.close_in)
    if args.close_in:
        return _child(args.close_in)
    accounts = SCALES[args.scale]
    info = common.machine()
    common.print_machine(info)
    provider = common.provider_new("bench-close")
    common.say(f"provider {provider.slug}: {accounts:,} accounts x 20 lines")
    try:
        with common.inside(provider):
            _world(accounts)
            empty, update = _limits()
        figures = _close(args, provider, accounts)
        with common.inside(provider):
            checks = _check(accounts)
        _purge_queued_deliveries()
        _report(figures, checks, empty, update, accounts, info)
    finally:
        if not args.keep:
            common.provider_drop(provider)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


def _world(accounts: int) -> None:
    from cycles.models import BillingCycle

    w = world.catalog_and_accounts(organizations=accounts, accounts_per_org=1,
                                   projects_per_account=1, variants=20)
    world.resources_copy(w, count=accounts, events_each=20, start=CYCLE_START,
                         span=timedelta(days=20), resize=True)
    BillingCycle.objects.create(start=CYCLE_START, end=CYCLE_END, label="2026-10")


def _limits() -> tuple[float, float]:
    from django.db import connection, transaction

    common.say(f"physical limit: {LOOP:,} empty transactions, {LOOP:,} one-row updates")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_counter (n bigint); "
                       "INSERT INTO bench_counter VALUES (0)")
    started = time.perf_counter()
    for _ in range(LOOP):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    empty = LOOP / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(LOOP):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE invoicing_invoicecounter SET last_sequence = last_sequence "
                           "WHERE name = 'invoices'")
    update = LOOP / (time.perf_counter() - started)
    return empty, update


def _child(slug: str) -> None:
    from accounts.models import BillingAccount
    from cycles.models import BillingCycle
    from invoicing.closing import FINALIZE_BATCH, cycle_close
    from tenancy.models import Provider

    with common.inside(Provider.objects.get(slug=slug)):
        batch = max(1, min(FINALIZE_BATCH, BillingAccount.objects.count() // 10))
        result = cycle_close(cycle=BillingCycle.objects.get(label="2026-10"), now=NOW,
                             batch_size=batch)
    print(f"child: {result}", flush=True)


def _finalized() -> int:
    from invoicing.models import Invoice, InvoiceStatus

    return Invoice.objects.filter(status=InvoiceStatus.FINALIZED).count()


def _close(args, provider, accounts: int) -> dict:
    argv = [sys.executable, __file__, "--database", args.database, "--redis", args.redis,
            "--close-in", provider.slug]
    runs = []
    for attempt, kill in (("first run, killed at 40%", True), ("resumed run", False)):
        common.say(f"closing: {attempt}")
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=os.environ.copy(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        first_seen = None
        base = None
        killed = False
        with common.inside(provider):
            base = _finalized()
            done = base
            while child.poll() is None:
                time.sleep(0.1)
                done = _finalized()
                if done > base and first_seen is None:
                    first_seen = (time.perf_counter(), done)
                print(f"\r  finalized {done:,}/{accounts:,}", end="", flush=True)
                if kill and done >= accounts * KILL_AT:
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    killed = True
                    break
            ended = time.perf_counter()
            done = _finalized()
        print()
        output = child.stdout.read()
        if not killed and child.returncode != 0:
            raise SystemExit(f"the closing run failed:\n{output}")
        seconds_first = (first_seen[0] - started) if first_seen else float("nan")
        finalize_seconds = ended - first_seen[0] if first_seen else float("nan")
        finalized_now = done - (first_seen[1] if first_seen else base)
        runs.append({"label": attempt, "seconds": ended - started, "killed": killed,
                     "finalized": done - base, "before_first": seconds_first,
                     "rate": finalized_now / finalize_seconds if finalize_seconds else 0})
    return {"runs": runs}


def _check(accounts: int) -> dict:
    from django.db.models import Count

    from cycles.models import BillingCycle
    from invoicing.models import Invoice, InvoiceCounter, InvoiceLine, InvoiceStatus

    invoices = Invoice.objects.filter(cycle__label="2026-10")
    finalized = invoices.filter(status=InvoiceStatus.FINALIZED)
    sequences = sorted(finalized.values_list("sequence", flat=True))
    duplicates = (finalized.values("number").annotate(n=Count("id")).filter(n__gt=1).count())
    per_account = invoices.values("billing_account").annotate(n=Count("id")).filter(n__gt=1)
    lines = InvoiceLine.objects.filter(invoice__cycle__label="2026-10").count()
    return {
        "invoices": invoices.count(),
        "finalized": finalized.count(),
        "gapless": sequences == list(range(1, accounts + 1)),
        "duplicate_numbers": duplicates,
        "accounts_with_two": per_account.count(),
        "counter": InvoiceCounter.objects.get(name="invoices").last_sequence,
        "closed": BillingCycle.objects.get(label="2026-10").status == "closed",
        "lines": lines,
    }


def _purge_queued_deliveries() -> None:
    """Each finalization queued its delivery (PDF, email, payment) for a worker: this
    run has none, so drop them from Redis rather than leave them for the next."""
    from billing.celery import app

    try:
        app.control.purge()
    except Exception as error:  # noqa: BLE001 - cleanup only
        common.say(f"could not purge the queued deliveries: {error}")


def _report(f: dict, checks: dict, empty: float, update: float, accounts: int,
            info: dict) -> None:
    print()
    common.say(f"month close, {accounts:,} accounts, {info['nproc']} cpu, load {common.load()}")
    rows = []
    for run in f["runs"]:
        rows.append((run["label"], f"{run['seconds']:.1f}", f"{run['finalized']:,}",
                     f"{run['rate']:,.0f}",
                     f"{run['before_first']:.1f} s before the first finalization "
                     "(closing, last rating, budgets)"))
    rows.append(("empty transactions", "", f"{LOOP:,}", f"{empty:,.0f}", "the physical limit"))
    rows.append(("one-row-update transactions", "", f"{LOOP:,}", f"{update:,.0f}",
                 "a commit that writes"))
    common.table(rows, ("what", "seconds", "invoices", "per second", "notes"))
    print(f"\nafter kill and resume: {checks['finalized']:,}/{checks['invoices']:,} finalized, "
          f"{checks['lines']:,} lines, numbers 1..{accounts} gapless: {checks['gapless']}, "
          f"duplicate numbers: {checks['duplicate_numbers']}, accounts with two invoices: "
          f"{checks['accounts_with_two']}, counter {checks['counter']}, "
          f"cycle closed: {checks['closed']}")
    ok = (checks["gapless"] and not checks["duplicate_numbers"] and checks["closed"]
          and checks["finalized"] == accounts)
    print("no duplicate, no gap after kill + resume" if ok else "CHECK FAILED")


if __name__ == "__main__":
    main()
