"""The platform admin creates providers, sandboxes included, with their first fleet admin:
the same onboarding as `manage.py create_provider`, its refusals on the form's fields."""

from datetime import UTC, datetime

from cycles.clock import clock_now
from tenancy.models import Provider
from tests.conftest import PASSWORD, host_client, inside, sign_in

FORM = {
    "name": "Rehearsal Cloud", "slug": "rehearsal", "currency": "EUR",
    "billing_timezone": "Europe/Berlin", "grace_period": "2 00:00:00", "billing_mode": "offers",
    "address": "1 Test Street", "sandbox": "on", "clock_frozen_at": "2026-03-10 08:00:00",
    "admin_username": "rita", "admin_email": "rita@example.com", "admin_password": PASSWORD,
}


def _platform(django_user_model):
    django_user_model.objects.create_superuser(username="root", password=PASSWORD)
    client = host_client(None)
    assert sign_in(client, "root")
    return client


def test_the_platform_admin_creates_a_sandbox_with_its_clock_and_admin(db, django_user_model):
    client = _platform(django_user_model)
    form = client.get("/admin/tenancy/provider/add/").content.decode()
    assert 'name="sandbox"' in form and 'name="clock_frozen_at"' in form

    created = client.post("/admin/tenancy/provider/add/", FORM)
    assert created.status_code == 302, created.content.decode()[:2000]
    provider = Provider.objects.get(slug="rehearsal")
    assert provider.sandbox and provider.billing_mode == "offers"
    assert provider.address == "1 Test Street"
    with inside(provider):
        assert clock_now() == datetime(2026, 3, 10, 8, tzinfo=UTC)
    assert sign_in(host_client(provider), "rita")  # its first fleet admin

    listed = client.get("/admin/tenancy/provider/?sandbox__exact=1").content.decode()
    assert "rehearsal" in listed and "beta" not in listed
    change = client.get(f"/admin/tenancy/provider/{provider.pk}/change/").content.decode()
    assert 'name="sandbox"' not in change  # a sandbox stays a sandbox


def test_the_form_refuses_what_onboarding_refuses_on_its_fields(db, django_user_model):
    client = _platform(django_user_model)
    page = client.post("/admin/tenancy/provider/add/", {
        **FORM, "slug": "beta", "sandbox": "", "admin_username": "no spaces"})
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert errors["slug"] == ["a provider with slug 'beta' already exists"]
    assert errors["clock_frozen_at"] == ["only a sandbox has a test clock to freeze: add sandbox"]
    assert "admin_username" in errors
    assert Provider.objects.filter(slug="beta").count() == 1
