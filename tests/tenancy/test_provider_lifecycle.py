"""A provider archived (read-only, no beat work, invoices kept) and deleted (its schema,
files and hosts gone) by the platform admin and by commands, each behind a confirmation;
its settings edited by its own fleet admin; every command printing the URLs served."""

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.onboarding import provider_onboard
from cycles.services import billing_start_set
from tenancy.lifecycle import (
    CONFIRMATION_MISMATCH,
    NOT_ARCHIVED,
    provider_archive,
    provider_delete,
)
from tenancy.middleware import PROVIDER_ARCHIVED
from tenancy.models import Provider
from tenancy.selectors import provider_list_active, provider_list_all
from tests.catalog.conftest import api_client, user_with_role
from tests.conftest import PASSWORD, host_client, inside, sign_in


@pytest.fixture
def kappa(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    provider = provider_onboard(slug="kappa", name="Kappa Cloud", admin_username="kim",
                                admin_password=PASSWORD).provider
    with inside(provider):
        billing_start_set(month="2020-01")
    (tmp_path / "media" / "kappa" / "invoices").mkdir(parents=True)
    (tmp_path / "media" / "kappa" / "invoices" / "KAPPA-000001.pdf").write_bytes(b"%PDF-1.7")
    connection.set_schema_to_public()
    return Provider.objects.get(slug="kappa")


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def test_an_archived_provider_answers_reads_and_refuses_every_write(kappa):
    api = api_client(kappa, "kim")
    provider_archive(provider=kappa, now=timezone.now())

    assert api.get("/api/v1/system/billing").status_code == 200
    refused = api.post("/api/v1/resources/events", {"events": []},
                       content_type="application/json")
    assert refused.status_code == 409
    assert refused.json()["error"] == {"status": 409, "code": "provider_archived",
                                       "message": PROVIDER_ARCHIVED}
    # People still sign in and read; the admin refuses to save.
    client = host_client(kappa)
    assert sign_in(client, "kim")
    page = client.get("/admin/").content.decode()
    assert "Archived: read-only" in page
    assert client.post("/admin/catalog/region/add/", {"key": "x", "name": "X"}).status_code == 409
    # Beat's fan-out and the batch commands leave it alone; migrations still reach it.
    assert "kappa" not in {p.slug for p in provider_list_active()}
    assert "kappa" in {p.slug for p in provider_list_all()}


def test_deleting_needs_an_archived_provider_and_its_slug_typed_again(kappa, settings):
    with pytest.raises(ValidationError) as live:
        provider_delete(provider=kappa, confirmation="kappa")
    assert live.value.messages == [NOT_ARCHIVED.format(slug="kappa")]
    provider_archive(provider=kappa, now=timezone.now())
    with pytest.raises(ValidationError) as wrong:
        provider_delete(provider=Provider.objects.get(slug="kappa"), confirmation="kapa")
    assert wrong.value.messages == [CONFIRMATION_MISMATCH.format(slug="kappa")]
    assert _schema_exists("kappa")

    provider_delete(provider=Provider.objects.get(slug="kappa"), confirmation="kappa")
    assert not _schema_exists("kappa")
    assert not (settings.MEDIA_ROOT / "kappa").exists()
    assert not Provider.objects.filter(slug="kappa").exists()
    assert host_client(None).get("/", HTTP_HOST="kappa.localhost").status_code == 404


def test_the_commands_archive_and_delete_and_print_the_urls_they_serve(kappa, settings):
    settings.TALLY_URL_PORT = "8123"
    out = StringIO()
    call_command("provider_archive", "kappa", stdout=out)
    assert "kappa is archived" in out.getvalue()
    assert "http://kappa.localhost:8123/admin/" in out.getvalue()
    with pytest.raises(CommandError, match="type the provider's slug"):
        call_command("provider_delete", "kappa", "--confirm", "nope")
    out = StringIO()
    call_command("provider_delete", "kappa", "--confirm", "kappa", stdout=out)
    assert "Deleted kappa" in out.getvalue() and ":8123/admin/" in out.getvalue()
    assert not _schema_exists("kappa")

    out = StringIO()
    call_command("create_provider", "lambda", "--name", "Lambda", "--admin", "lou",
                 stdout=out)
    assert "http://lambda.localhost:8123/admin/" in out.getvalue()
    settings.TALLY_URL_SCHEME, settings.TALLY_URL_PORT = "https", "443"
    out = StringIO()
    call_command("provider_archive", "lambda", stdout=out)
    assert "https://lambda.localhost/admin/" in out.getvalue()


def test_the_platform_admin_archives_and_deletes_after_confirming(kappa, django_user_model):
    django_user_model.objects.create_superuser(username="root", password=PASSWORD)
    client = host_client(None)
    assert sign_in(client, "root")
    changelist = "/admin/tenancy/provider/"
    chosen = {"action": "archive_providers", "_selected_action": [kappa.pk]}

    page = client.post(changelist, chosen)
    assert page.status_code == 200 and "Archive these providers?" in page.content.decode()
    assert Provider.objects.get(slug="kappa").archived_at is None  # nothing yet
    done = client.post(changelist, {**chosen, "confirmed": "yes"})
    assert done.status_code == 302
    assert Provider.objects.get(slug="kappa").archived_at is not None

    delete_url = f"{changelist}{kappa.pk}/delete-provider/"
    form = client.get(delete_url).content.decode()
    assert "Type the provider&#x27;s slug to confirm" in form and "Drops schema kappa" in form
    wrong = client.post(delete_url, {"confirmed": "yes", "confirmation": "kap"})
    assert wrong.status_code == 200 and _schema_exists("kappa")
    gone = client.post(delete_url, {"confirmed": "yes", "confirmation": "kappa"})
    assert gone.status_code == 302 and not _schema_exists("kappa")


def test_its_fleet_admin_edits_the_provider_settings_printed_on_invoices(kappa):
    user_with_role(kappa, "vic", "fleet_viewer")
    client = host_client(kappa)
    assert sign_in(client, "kim")
    url = f"/admin/tenancy/provider/{kappa.pk}/change/"
    assert client.get("/admin/tenancy/provider/")["Location"] == url
    page = client.get(url).content.decode()
    assert 'name="tax_id"' in page and 'name="legal_footer"' in page and 'name="logo"' in page
    saved = client.post(url, {
        "name": "Kappa Cloud GmbH", "address": "Hauptstr. 1\nBerlin", "tax_id": "DE123456789",
        "legal_footer": "Registered in Berlin.", "currency": "EUR",
        "billing_timezone": "Europe/Berlin", "grace_period": "1 00:00:00",
        "future_horizon": "1 00:00:00", "_save": "Save"})
    assert saved.status_code == 302, saved.content.decode()[:3000]
    kappa.refresh_from_db()
    assert (kappa.name, kappa.tax_id, kappa.currency) == ("Kappa Cloud GmbH", "DE123456789",
                                                         "EUR")
    # The menu names the provider; a fleet viewer may look but not change.
    viewer = host_client(kappa)
    assert sign_in(viewer, "vic")
    assert "Kappa Cloud GmbH" in viewer.get("/admin/").content.decode()
    assert viewer.post(url, {"name": "Hijack"}).status_code == 403
