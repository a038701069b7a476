"""A provider's billing calendar: list its cycles, open a month, move its billing start."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from cycles.clock import clock_now
from cycles.guard import duration_text
from cycles.selectors import billing_start_at, cycles_list, month_label
from cycles.services import billing_start_set, cycle_open
from tenancy.selectors import provider_get_by_slug


def _reasons(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(m for messages in error.message_dict.values() for m in messages)
    return "; ".join(error.messages)


class Command(BaseCommand):
    help = (
        "The billing calendar of a provider. `list` shows its cycles; `open --month YYYY-MM` "
        "opens a past or the current month (e.g. to import its history); `start --month "
        "YYYY-MM` moves its billing start, before which nothing is accepted."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="list|open|start")
        for name, text in (("list", "list the cycles, oldest first"),
                           ("open", "open the cycle of a month"),
                           ("start", "move the billing start to a month")):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("--provider", required=True, help="provider slug")
            if name != "list":
                sub.add_argument("--month", required=True, help="YYYY-MM in the billing zone")

    def handle(self, *args, **options):
        provider = provider_get_by_slug(slug=options["provider"])
        if provider is None:
            raise CommandError(f"no provider with slug {options['provider']!r}")
        with tenant_context(provider):
            try:
                if options["action"] == "open":
                    self._open(provider, options["month"])
                elif options["action"] == "start":
                    start = billing_start_set(month=options["month"])
                    self.stdout.write(self.style.SUCCESS(
                        f"{provider.slug}: bills from {month_label(start)} "
                        f"({start.isoformat()}); nothing dated before it is accepted"))
                self._list(provider)
            except ValidationError as error:  # Conflict too: the refusal, with its reason
                raise CommandError(f"{provider.slug}: {_reasons(error)}") from None

    def _open(self, provider, month: str) -> None:
        cycle, made = cycle_open(month=month, now=clock_now())
        state = "opened" if made else "was already open" if cycle.status == "open" else (
            f"exists ({cycle.status})")
        self.stdout.write(self.style.SUCCESS(f"{provider.slug} {cycle.label}: {state}"))

    def _list(self, provider) -> None:
        start = billing_start_at()
        self.stdout.write(f"{provider.slug}: billing zone {provider.billing_timezone}, bills "
                          f"from {month_label(start)}, events accepted up to "
                          f"{duration_text(provider.future_horizon)} ahead of now")
        cycles = cycles_list()
        if not cycles:
            self.stdout.write("  no cycle yet: they are made when something dated arrives")
        for cycle in cycles:
            closed = f" at {cycle.closed_at:%Y-%m-%d %H:%M} UTC" if cycle.closed_at else ""
            self.stdout.write(f"  {cycle.label}  [{cycle.start.isoformat()}, "
                              f"{cycle.end.isoformat()})  {cycle.status}{closed}")
