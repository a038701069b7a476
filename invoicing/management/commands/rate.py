"""Rate the open billing cycles of one provider (or all) now."""

import time

from django_tenants.utils import tenant_context

from audit.context import AuditedCommand
from cycles.clock import clock_now
from invoicing.jobs import rate_open_cycles
from invoicing.management.commands._providers import providers_from_options


class Command(AuditedCommand):
    help = "Run the rating run over every open cycle of a provider (the beat job does the same)."

    def add_arguments(self, parser):
        parser.add_argument("--provider", help="provider slug")
        parser.add_argument("--all", action="store_true", help="every provider")

    def handle(self, *args, **options):
        for provider in providers_from_options(options):
            started = time.monotonic()
            with tenant_context(provider):
                runs = rate_open_cycles(now=clock_now())
            for run in runs:
                until = run.rated_until.strftime("%Y-%m-%d %H:%M")
                self.stdout.write(
                    f"{provider.slug} {run.cycle}: {run.resources} resources, {run.lines} lines "
                    f"on {run.invoices} draft invoices, rated until {until} UTC; "
                    f"{run.unbilled} unbilled periods"
                )
            self.stdout.write(self.style.SUCCESS(
                f"{provider.slug}: rated {len(runs)} cycle(s) in {time.monotonic() - started:.1f} s"
            ))
