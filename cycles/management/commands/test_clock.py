"""Show a sandbox provider's test clock, or move it forward here, step by step."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from audit.context import AuditedCommand
from core.timefmt import datetime_text, instant_from_iso
from cycles.clock import sandbox_clock_get
from cycles.clock_advance import ClockAdvancing, NotASandbox, sandbox_clock_advance
from cycles.clock_run import sandbox_clock_run
from tenancy.selectors import provider_get_by_slug


class Command(AuditedCommand):
    help = ("Show a sandbox provider's test clock; with --advance-to, move it forward and run "
            "the work due on the way in this process (what POST /api/v1/test-clock/advance "
            "queues for a worker).")

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, help="the sandbox provider's slug")
        parser.add_argument("--advance-to", metavar="ISO-8601",
                            help="an instant with its UTC offset, e.g. 2026-04-02T00:00:00Z")

    def handle(self, *args, **options):
        provider = provider_get_by_slug(slug=options["provider"])
        if provider is None:
            raise CommandError(f"no provider with slug {options['provider']!r}")
        with tenant_context(provider):
            clock = sandbox_clock_get()
            if clock is None:
                raise CommandError(f"{provider.slug} runs on real time: only a sandbox provider "
                                   "has a test clock (create_provider --sandbox)")
            if options["advance_to"]:
                clock = self._advance(options["advance_to"])
            zone = provider.billing_timezone
            self.stdout.write(f"{provider.slug}: now is {datetime_text(clock.frozen_time, zone)}"
                              f", {clock.status}")
            if clock.error:
                raise CommandError(clock.error)

    def _advance(self, text: str):
        try:
            to = instant_from_iso(text)
        except ValueError as error:
            raise CommandError(f"--advance-to {text!r}: {error}") from None
        try:
            sandbox_clock_advance(to=to, actor_name="manage.py test_clock", queue=False)
        except (ValidationError, ClockAdvancing, NotASandbox) as error:
            messages = getattr(error, "messages", None) or [str(error)]
            raise CommandError(messages[0]) from error
        clock = sandbox_clock_run(on_step=self._progress)
        self.stdout.write("")
        if clock is None:
            raise CommandError("another run is moving this clock: check it again shortly")
        return clock

    def _progress(self, step, number: int, total: int) -> None:
        width = 30
        done = width * number // total
        self.stdout.write(f"\r  [{'#' * done}{'.' * (width - done)}] step {number}/{total}: "
                          f"{step:%Y-%m-%d %H:%M} UTC", ending="")
        self.stdout.flush()

