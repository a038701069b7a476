"""Creating providers: a migrated schema, a host and a first fleet admin, all or nothing."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from accounts.access import access_for
from accounts.onboarding import provider_onboard
from tenancy import services
from tenancy.models import Domain, Provider
from tenancy.schemas import applied_migrations, tenant_migrations_on_disk
from tenancy.services import SLUG_TAKEN
from tenancy.validators import CURRENCY_INVALID, SLUG_INVALID, SLUG_RESERVED, TIMEZONE_INVALID
from tests.conftest import inside

User = get_user_model()


def test_create_provider_migrates_schema_routes_host_and_creates_admin(db):
    created = provider_onboard(
        name="Gamma Cloud", slug="gamma-cloud", admin_username="grace", admin_password="pw-123456",
        currency="gbp", billing_timezone="Europe/London", grace_period=timedelta(hours=48),
    )

    provider = created.provider
    assert provider.schema_name == "gamma_cloud"
    assert provider.currency == "GBP"
    assert schema_exists("gamma_cloud")
    assert created.domain == "gamma-cloud.localhost"
    assert Domain.objects.get(domain="gamma-cloud.localhost").tenant == provider
    with inside(provider):
        admin = User.objects.get(username="grace")
        # A fleet admin by role; superusers are the platform's, not a provider's.
        assert not admin.is_superuser and not admin.is_staff
        assert access_for(admin).fleet_admin
        assert admin.check_password("pw-123456")
        # Every tenant migration is applied; the public-only apps' are not there.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'djstripe'")
            assert cursor.fetchone()[0] == 0
        assert tenant_migrations_on_disk() <= applied_migrations(["gamma_cloud"])["gamma_cloud"]
    # The admin exists in the new schema only.
    assert not User.objects.filter(username="grace").exists()


def test_generated_admin_password_is_returned_once(db):
    created = provider_onboard(name="Delta", slug="delta", admin_username="dora")
    assert len(created.admin_password) >= 12
    with inside(created.provider):
        assert User.objects.get(username="dora").check_password(created.admin_password)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"slug": "alpha"}, "slug", SLUG_TAKEN.format(slug="alpha")),
        ({"slug": "Bad_Slug"}, "slug", SLUG_INVALID),
        ({"slug": "public"}, "slug", SLUG_RESERVED.format(slug="public")),
        ({"currency": "XYZ"}, "currency", CURRENCY_INVALID.format(code="XYZ")),
        ({"billing_timezone": "Mars/Olympus"}, "billing_timezone",
         TIMEZONE_INVALID.format(name="Mars/Olympus")),
    ],
)
def test_bad_input_is_refused_with_field_reason_and_writes_nothing(db, fields, field, message):
    arguments = {"name": "Epsilon", "slug": "epsilon", "admin_username": "eve", **fields}
    before = Provider.objects.count()

    with pytest.raises(ValidationError) as refused:
        provider_onboard(**arguments)

    assert message in refused.value.message_dict[field]
    assert Provider.objects.count() == before
    assert not schema_exists("epsilon")


def test_command_prints_what_it_made(db, capsys):
    call_command(
        "create_provider", "zeta", "--name", "Zeta Cloud", "--admin", "zed",
        "--currency", "JPY", "--timezone", "Asia/Tokyo",
    )
    out = capsys.readouterr().out
    assert "Created provider 'Zeta Cloud'" in out
    assert "http://zeta.localhost:8000/admin/" in out
    assert "password:" in out and "(shown once)" in out
    assert Provider.objects.get(slug="zeta").billing_timezone == "Asia/Tokyo"


def test_command_fails_with_every_reason_on_bad_input(db):
    with pytest.raises(CommandError) as failure:
        call_command(
            "create_provider", "alpha", "--name", "Again", "--admin", "x", "--currency", "EURO",
            "--timezone", "Nowhere",
        )
    text = str(failure.value)
    assert SLUG_TAKEN.format(slug="alpha") in text
    assert CURRENCY_INVALID.format(code="EURO") in text
    assert TIMEZONE_INVALID.format(name="Nowhere") in text


def test_negative_grace_is_refused(db):
    with pytest.raises(CommandError, match="cannot be negative"):
        call_command("create_provider", "eta", "--name", "Eta", "--admin", "x",
                     "--grace-hours", "-1")


def test_a_failed_creation_leaves_nothing_behind(db, monkeypatch):
    """The schema is made and migrated in the registry row's transaction."""


    def broken(schema_name, **kwargs):
        raise RuntimeError("migration failed")

    monkeypatch.setattr(services, "schema_migrate", broken)
    with pytest.raises(RuntimeError):
        provider_onboard(name="Theta", slug="theta", admin_username="tess")
    assert not Provider.objects.filter(slug="theta").exists()
    assert not schema_exists("theta")
    assert not Domain.objects.filter(domain="theta.localhost").exists()
