"""Import a provider's billing history from a file: catalog, organizations, projects,
prices, resource events, usage and credits (billing/history/records.py has the format)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_tenants.utils import tenant_context

from billing.history.apply import REFUSED, Outcome, records_apply
from billing.history.records import KINDS, records_read
from cycles.clock import clock_now
from cycles.selectors import billing_start_at, month_label
from invoicing.jobs import rate_open_cycles
from invoicing.pdf import money_text
from invoicing.selectors import bills_by_cycle
from tenancy.selectors import provider_get_by_slug

SHOWN_REFUSALS = 50


class Progress:
    """A progress bar on the command's stderr: redrawn in place on a terminal, a line per
    tenth elsewhere (logs, CI)."""

    def __init__(self, total: int, stream, width: int = 30):
        self.total, self.done, self.width = max(total, 1), 0, width
        self.stream = stream
        self.tty = stream.isatty()
        self.shown_tenth = -1

    def advance(self, count: int) -> None:
        self.done = min(self.done + count, self.total)
        tenth = self.done * 10 // self.total
        if not self.tty and tenth == self.shown_tenth:
            return
        self.shown_tenth = tenth
        filled = self.done * self.width // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"  importing [{bar}] {self.done * 100 // self.total:3d}%  " \
               f"{self.done}/{self.total} records"
        self.stream.write(f"\r{text}" if self.tty else text,
                          ending="\n" if not self.tty or self.done == self.total else "")
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Import billing history (resource types, regions, organizations, projects, prices, "
        "resource events, usage, credits) from a .jsonl or .csv file, through the same "
        "services as the API. Safe to run again: what is there already is left unchanged. "
        "--dry-run prints what would be billed per month, and keeps nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .jsonl or .csv file (README: Import your history)")
        parser.add_argument("--provider", required=True, help="provider slug")
        parser.add_argument("--dry-run", action="store_true",
                            help="rate what the file holds, print it per month, keep nothing")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no file {path}")
        provider = provider_get_by_slug(slug=options["provider"])
        if provider is None:
            raise CommandError(f"no provider with slug {options['provider']!r}")
        try:
            records, unreadable = records_read(path)
        except (ValueError, UnicodeDecodeError) as error:
            raise CommandError(str(error)) from None
        unread = [Outcome(u.line, u.kind, REFUSED, u.reason) for u in unreadable]
        with tenant_context(provider):
            self.stdout.write(f"{provider.slug}: {len(records)} records from {path.name}, "
                              f"billing from {month_label(billing_start_at())} "
                              f"({provider.billing_timezone})")
            now = clock_now()
            progress = Progress(len(records), stream=self.stderr)
            if options["dry_run"]:
                outcomes, bills = self._dry_run(records, now, progress)
            else:
                outcomes, bills = records_apply(records, now=now,
                                                advance=progress.advance), None
        self._summary(unread + outcomes, dry_run=options["dry_run"])
        if bills is not None:
            self._bills(bills)
        refused = sum(1 for o in unread + outcomes if o.status == REFUSED)
        if refused:
            raise CommandError(f"{refused} record(s) refused (listed above): fix them and run "
                               "the import again; what was imported stays as it is.")
        if not options["dry_run"]:
            self.stdout.write(
                f"Next: python manage.py close_cycles --provider {provider.slug}  (finalizes "
                "the months past their end, oldest first)\n"
                f"      python manage.py rate --provider {provider.slug}  (rates the open ones)")

    def _dry_run(self, records, now, progress):
        """Everything the import would do, and a rating of the open cycles, in one
        transaction rolled back: the real services and rating engine, nothing kept."""
        with transaction.atomic():
            outcomes = records_apply(records, now=now, advance=progress.advance)
            rate_open_cycles(now=now)
            bills = [b for b in bills_by_cycle() if b.status != "closed"]
            transaction.set_rollback(True)
        return outcomes, bills

    def _summary(self, outcomes: list[Outcome], *, dry_run: bool) -> None:
        verb = "would be" if dry_run else "were"
        counts: dict[str, dict[str, int]] = {}
        for outcome in outcomes:
            counts.setdefault(outcome.kind, {}).setdefault(outcome.status, 0)
            counts[outcome.kind][outcome.status] += 1
        self.stdout.write(f"Records that {verb} imported:")
        for kind in [*KINDS, *sorted(set(counts) - set(KINDS))]:
            if kind in counts:
                found = counts[kind]
                self.stdout.write(f"  {kind:<14} {found.get('created', 0):>7} created "
                                  f"{found.get('unchanged', 0):>7} unchanged "
                                  f"{found.get('refused', 0):>7} refused")
        refused = sorted((o for o in outcomes if o.status == REFUSED), key=lambda o: o.line)
        for outcome in refused[:SHOWN_REFUSALS]:
            self.stdout.write(self.style.ERROR(
                f"  line {outcome.line} ({outcome.kind}): {outcome.reason}"))
        if len(refused) > SHOWN_REFUSALS:
            self.stdout.write(f"  ... and {len(refused) - SHOWN_REFUSALS} more refused")

    def _bills(self, bills) -> None:
        if not bills:
            self.stdout.write("Nothing would be billed: no open cycle has invoices.")
            return
        self.stdout.write("What would be billed, per month (draft invoices after a rating run):")
        for bill in bills:
            total = money_text(bill.total, bill.currency)
            self.stdout.write(self.style.SUCCESS(
                f"  {bill.label}  {bill.currency} {total:>14}  "
                f"({len(bill.accounts)} invoice(s), cycle {bill.status})"))
            for account in bill.accounts:
                self.stdout.write(f"      {account.organization} / {account.billing_account}: "
                                  f"{bill.currency} {money_text(account.total, bill.currency)} "
                                  f"({account.lines} lines)")
