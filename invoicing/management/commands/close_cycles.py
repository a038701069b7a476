"""Close the cycles past their end plus grace: finalize and number their invoices."""

from django_tenants.utils import tenant_context

from audit.context import AuditedCommand
from cycles.clock import clock_now
from invoicing.jobs import close_due_cycles
from invoicing.management.commands._providers import providers_from_options


class Command(AuditedCommand):
    help = (
        "Finalize the invoices of every cycle past its end plus grace (safe to repeat; the "
        "beat job calls the same service)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--provider", help="provider slug")
        parser.add_argument("--all", action="store_true", help="every provider")

    def handle(self, *args, **options):
        for provider in providers_from_options(options):
            with tenant_context(provider):
                results = close_due_cycles(now=clock_now())
            if not results:
                self.stdout.write(f"{provider.slug}: no cycle is due for closing")
            for result in results:
                state = "closed" if result.closed else "still has drafts"
                self.stdout.write(self.style.SUCCESS(
                    f"{provider.slug} {result.cycle}: {result.finalized} invoice(s) finalized, "
                    f"cycle {state}"
                ))
