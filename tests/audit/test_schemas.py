"""The audit triggers live in each provider's schema, installed by its migrations, and
fire there: a provider made today records its first writes in its own schema."""

from django.core.management import call_command
from django.db import connection

from accounts.models import RoleGrant
from audit.changes import audited_models
from audit.tracking import DELETE, INSERT, UPDATE
from tenancy.models import Provider
from tests.audit.support import context_of, events_of
from tests.conftest import inside


def _audit_triggers(schema: str) -> dict[str, set[str]]:
    """Table -> the operations its audit triggers watch, in one schema."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname, t.tgname FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND t.tgname LIKE 'pgtrigger_audit_%%'
        """, [schema])
        rows = cursor.fetchall()
    found: dict[str, set[str]] = {}
    for table, name in rows:
        found.setdefault(table, set()).add(name.split("_")[2])
    return found


def _expected() -> dict[str, set[str]]:
    return {model._meta.db_table: {tracker.label for tracker in model.pgh_event_model.pgh_trackers}
            for model in audited_models()}


def test_every_audited_table_has_its_triggers_in_each_provider_schema(alpha, beta):
    expected = _expected()
    # 16, the provider's Stripe account (invoicing.StripeAccount), and the catalog's
    # directory (services, features, metrics, their policies, variants, regions,
    # dependencies), API keys and private offers' consumers, and credit notes with their
    # allocations (issued, never changed: inserts only).
    assert len(expected) == 28
    assert expected["invoicing_stripeaccount"] == {INSERT, UPDATE, DELETE}
    assert expected["invoicing_invoice"] == {INSERT, UPDATE}
    assert expected["catalog_price"] == {INSERT, UPDATE, DELETE}
    for provider in (alpha, beta):
        assert _audit_triggers(provider.schema_name) == expected
    assert _audit_triggers("public") == {}


def test_a_new_provider_records_its_first_writes_in_its_own_schema(db):
    call_command("create_provider", "audited", name="Audited Cloud", admin="auditor",
                 admin_password="pw-123456")
    provider = Provider.objects.get(slug="audited")
    assert _audit_triggers(provider.schema_name) == _expected()
    with inside(provider):
        grant = RoleGrant.objects.get(user__username="auditor")
        [created] = events_of(RoleGrant, grant.pk)
        assert (created.pgh_label, context_of(created)) == (INSERT, {"command": "create_provider"})
    for other in Provider.objects.exclude(pk=provider.pk):
        with inside(other):
            assert not RoleGrant.pgh_event_model.objects.filter(
                pgh_context_id=created.pgh_context_id).exists()
