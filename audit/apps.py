from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        # Imported here (Django's idiom): these command modules are loaded only once the
        # apps are, and pgtrigger's own ready() (earlier in INSTALLED_APPS) has run.
        from django.core.management.commands import makemigrations
        from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
        from pghistory import runtime

        # pgtrigger gives makemigrations and migrate an autodetector that sees triggers;
        # django-tenants' migrate command pins Django's plain one. Django refuses to start
        # when the two disagree (check commands.E001): give django-tenants' the same.
        MigrateSchemasCommand.autodetector = makemigrations.Command.autodetector

        # pghistory prefixes every statement but reads (and a few others) with the
        # context's variables. The schema switches django-tenants issues (`SET
        # search_path`) and savepoints never fire a trigger: leave them as they are.
        runtime.IGNORED_SQL_PREFIXES = (*runtime.IGNORED_SQL_PREFIXES, "set ", "savepoint",
                                        "release savepoint", "rollback")
