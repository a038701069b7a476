"""Check that a Celery worker runs tasks for a provider, in that provider's schema."""

from celery.exceptions import TimeoutError as CeleryTimeout
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from audit.context import AuditedCommand
from tenancy.jobs import provider_ping
from tenancy.selectors import provider_get_by_slug


class Command(AuditedCommand):
    help = "Queue a ping task for a provider and print the schema the worker ran it in."

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True)
        parser.add_argument("--timeout", type=float, default=20.0)

    def handle(self, *args, **options):
        provider = provider_get_by_slug(slug=options["provider"])
        if provider is None:
            raise CommandError(f"no provider with slug {options['provider']!r}")
        with tenant_context(provider):
            result = provider_ping.delay()
        try:
            answer = result.get(timeout=options["timeout"])
        except CeleryTimeout as exc:
            raise CommandError(
                f"no worker answered within {options['timeout']:.0f} s: is `celery -A billing "
                "worker` running against the same REDIS_URL?"
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"worker ran the task for provider {answer['provider']} "
                f"in schema {answer['schema']}"
            )
        )
