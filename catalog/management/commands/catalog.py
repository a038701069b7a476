"""A provider's catalog as a file: apply one (declarative, idempotent) or export it.

    manage.py catalog apply FILE.yaml --provider acme [--plan]
    manage.py catalog export --provider acme > catalog.yaml
"""

from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from audit.context import AuditedCommand
from catalog.catalog_yaml import catalog_file_load
from catalog.models import PriceChangeSource
from catalog.services.catalog_apply import catalog_apply
from catalog.services.catalog_export import catalog_export
from cycles.clock import clock_now
from tenancy.selectors import provider_get_by_slug

NOTHING_TO_CHANGE = "Nothing to change: the catalog already is what the file says."


def _reasons(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{field}: {m}" for field, ms in error.message_dict.items() for m in ms]
    return list(error.messages)


class Command(AuditedCommand):
    help = ("A provider's catalog as one file. `apply FILE` creates what is missing and "
            "changes what differs (never deletes); `--plan` only prints the diff. `export` "
            "prints the catalog in the same form.")

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="apply|export")
        apply = actions.add_parser("apply", help="apply a catalog file (YAML or JSON)")
        apply.add_argument("file", help="the catalog file")
        apply.add_argument("--provider", required=True, help="provider slug")
        apply.add_argument("--plan", action="store_true", help="print the diff, change nothing")
        export = actions.add_parser("export", help="print the catalog as YAML")
        export.add_argument("--provider", required=True, help="provider slug")

    def handle(self, *args, **options):
        provider = provider_get_by_slug(slug=options["provider"])
        if provider is None:
            raise CommandError(f"no provider with slug {options['provider']!r}")
        with tenant_context(provider):
            if options["action"] == "export":
                self.stdout.write(yaml.safe_dump(catalog_export(now=clock_now()),
                                                 sort_keys=False, allow_unicode=True))
                return
            self._apply(provider, Path(options["file"]), plan=options["plan"])

    def _apply(self, provider, path: Path, *, plan: bool) -> None:
        try:
            document = catalog_file_load(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"{path}: {error}") from None
        try:
            result = catalog_apply(document=document, now=clock_now(),
                                   source=PriceChangeSource.COMMAND, plan=plan)
        except ValidationError as error:
            lines = "\n  ".join(_reasons(error))
            raise CommandError(f"{path}: nothing applied, the file has errors:\n  {lines}") \
                from None
        if not result.changes:
            self.stdout.write(self.style.SUCCESS(NOTHING_TO_CHANGE))
            return
        verb = "Would change" if plan else "Changed"
        self.stdout.write(f"{verb} on {provider.slug} ({len(result.changes)}):")
        for line in result.changes:
            self.stdout.write(f"  {line}")
        if plan:
            self.stdout.write("Nothing was written (--plan). Run without --plan to apply.")
        else:
            self.stdout.write(self.style.SUCCESS("Applied."))
