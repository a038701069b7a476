"""The migrate command django-tenants runs in each schema (TENANT_BASE_MIGRATE_COMMAND).

In a provider's schema it switches off the migrations of the apps that live in the
public schema only (tenancy/schemas.py: dj-stripe's alone cost about 50 s of CPU per
schema, for no table); in the public schema it is Django's migrate, unchanged.
"""

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connection
from django.test.utils import override_settings
from django_tenants.utils import get_public_schema_name

from tenancy.schemas import shared_only_labels


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        if connection.schema_name == get_public_schema_name():
            return super().handle(*args, **options)
        skip = {label: None for label in shared_only_labels()}
        with override_settings(MIGRATION_MODULES={**settings.MIGRATION_MODULES, **skip}):
            return super().handle(*args, **options)
