"""A provider's schema is a faithful copy of the template: same catalog, same names, same rows."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django_tenants.utils import schema_exists

from accounts.onboarding import provider_onboard
from tenancy.cloning import CloneRefused, schema_clone
from tenancy.models import Domain, Provider
from tests.tenancy.fingerprint import fingerprint_difference, schema_fingerprint

TEMPLATE = "tally_template"


def sql(*statements: str) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def one(query: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()


def test_a_new_provider_is_the_template_plus_its_admin(db):
    search_path = one("SELECT current_setting('search_path')")[0]
    template = schema_fingerprint(TEMPLATE)

    provider_onboard(name="Copy Cloud", slug="copy-cloud", admin_username="cora")

    # provider_onboard leaves the connection where it found it (the clone sets its own).
    assert one("SELECT current_setting('search_path')")[0] == search_path
    clone = schema_fingerprint("copy_cloud")
    assert fingerprint_difference(template, clone).keys() == {"rows", "sequence values"}
    # The only rows that differ are the admin's and its fleet admin role, and the only
    # sequences moved are their ids'.
    rows = {table: (count, digest) for table, count, digest in template.pop("rows")}
    cloned = {table: (count, digest) for table, count, digest in clone.pop("rows")}
    for table in ("auth_user", "accounts_rolegrant"):
        assert cloned.pop(table)[0] == rows.pop(table)[0] + 1
    assert cloned == rows
    values = {name: value for name, *value in template.pop("sequence values")}
    cloned_values = {name: value for name, *value in clone.pop("sequence values")}
    for sequence in ("auth_user_id_seq", "accounts_rolegrant_id_seq"):
        assert cloned_values.pop(sequence) != values.pop(sequence)
    assert cloned_values == values
    assert fingerprint_difference(template, clone) == {}


def test_the_clone_is_identical_to_the_template(db):
    schema_clone(source=TEMPLATE, target="clone_probe")

    assert fingerprint_difference(schema_fingerprint(TEMPLATE),
                                  schema_fingerprint("clone_probe")) == {}


def test_the_clone_keeps_the_template_names_of_keys_partitions_and_triggers(db):
    """Spot checks of what the fingerprint compares, for a reader of this file."""
    schema_clone(source=TEMPLATE, target="clone_probe")

    def names(schema: str, query: str) -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute(query, [schema])
            return {row[0] for row in cursor.fetchall()}

    constraints = ("SELECT conname FROM pg_constraint "
                   "WHERE connamespace = %s::regnamespace")
    triggers = ("SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = %s::regnamespace AND NOT t.tgisinternal")
    partitions = ("SELECT c.relname FROM pg_class c "
                  "WHERE c.relnamespace = %s::regnamespace AND c.relispartition")
    for query in (constraints, triggers, partitions):
        assert names("clone_probe", query) == names(TEMPLATE, query)
    assert "billing_account_name_unique_per_org" in names("clone_probe", constraints)
    assert {"invoice_frozen", "invoice_line_frozen"} <= names("clone_probe", triggers)
    assert "metering_usageevent_default" in names("clone_probe", partitions)


@pytest.mark.parametrize(
    ("change", "part"),
    [
        ("DROP INDEX clone_probe.metering_usageevent_event_id_idx", "indexes"),
        ("DROP TRIGGER invoice_frozen ON clone_probe.invoicing_invoice", "triggers"),
        ("DROP TABLE clone_probe.metering_usageevent_default", "relations"),
        ("ALTER TABLE clone_probe.accounts_billingaccount RENAME CONSTRAINT "
         "billing_account_name_unique_per_org TO accounts_billingaccount_name_key",
         "constraints"),
        ("ALTER TABLE clone_probe.metering_usageevent ALTER COLUMN id DROP DEFAULT", "columns"),
        ("SELECT setval('clone_probe.django_migrations_id_seq', 100000)", "sequence values"),
        ("DELETE FROM clone_probe.django_migrations WHERE app = 'invoicing'", "rows"),
    ],
)
def test_the_fingerprint_sees_what_a_clone_could_miss(db, change, part):
    schema_clone(source=TEMPLATE, target="clone_probe")
    sql(change)

    difference = fingerprint_difference(schema_fingerprint(TEMPLATE),
                                        schema_fingerprint("clone_probe"))
    assert part in difference


def test_objects_the_template_may_hold_one_day_are_copied_too(db):
    """Kinds of objects migrations do not make today, added to the template for this test
    only (the test's transaction is rolled back)."""
    sql(
        "SET LOCAL search_path = tally_template, public",
        # Identity ALWAYS, a stored generated column, a check NOT VALID, rows.
        "CREATE TABLE probe_item (id integer GENERATED ALWAYS AS IDENTITY "
        " (START WITH 10 INCREMENT BY 5) PRIMARY KEY, label text NOT NULL DEFAULT 'x', "
        " amount numeric(10, 2), doubled numeric GENERATED ALWAYS AS (amount * 2) STORED, "
        " provider_id bigint REFERENCES public.tenancy_provider (id) DEFERRABLE, "
        " slot tstzrange)",
        "INSERT INTO probe_item (label, amount) VALUES ('a', 1), ('b', 2)",
        "ALTER TABLE probe_item ADD CONSTRAINT probe_amount_small CHECK (amount < 1) NOT VALID",
        "ALTER TABLE probe_item ADD CONSTRAINT probe_label_unique UNIQUE (label) "
        " DEFERRABLE INITIALLY DEFERRED",
        "ALTER TABLE probe_item ADD CONSTRAINT probe_no_overlap "
        " EXCLUDE USING gist (label WITH =, slot WITH &&)",
        "CREATE INDEX probe_lower_label ON probe_item (lower(label)) WHERE amount > 0",
        # A serial column and a list-partitioned table with a sub-partitioned partition.
        "CREATE TABLE probe_log (id serial, kind text NOT NULL, at date NOT NULL, "
        " item_id integer REFERENCES probe_item (id), PRIMARY KEY (id, kind, at)) "
        " PARTITION BY LIST (kind)",
        "CREATE TABLE probe_log_a PARTITION OF probe_log FOR VALUES IN ('a') "
        " PARTITION BY RANGE (at)",
        "CREATE TABLE probe_log_a_2030 PARTITION OF probe_log_a "
        " FOR VALUES FROM ('2030-01-01') TO ('2031-01-01')",
        "CREATE TABLE probe_log_other PARTITION OF probe_log DEFAULT",
        "CREATE INDEX probe_log_at ON probe_log (at)",
        "INSERT INTO probe_log (kind, at, item_id) VALUES ('a', '2030-05-01', 10), "
        " ('z', '2020-01-01', 15)",
        # A function that names the template explicitly, a disabled trigger, a view.
        "CREATE FUNCTION probe_count() RETURNS bigint LANGUAGE sql "
        " AS 'SELECT count(*) FROM tally_template.probe_item'",
        "CREATE FUNCTION probe_touch() RETURNS trigger LANGUAGE plpgsql "
        " AS $$ BEGIN NEW.label := upper(NEW.label); RETURN NEW; END $$",
        "CREATE TRIGGER probe_touch BEFORE INSERT ON probe_item "
        " FOR EACH ROW EXECUTE FUNCTION probe_touch()",
        "ALTER TABLE probe_item DISABLE TRIGGER probe_touch",
        "CREATE VIEW probe_view AS SELECT label, probe_count() AS total FROM probe_item",
        # A check calling a function of the template: the copy's calls the copied one.
        "CREATE FUNCTION probe_positive(numeric) RETURNS boolean LANGUAGE sql IMMUTABLE "
        " AS 'SELECT $1 > 0'",
        "CREATE TABLE probe_note (n numeric CONSTRAINT probe_note_positive "
        " CHECK (probe_positive(n)))",
        "SELECT setval('probe_log_id_seq', 40)",
        "RESET search_path",
    )
    connection.set_schema_to_public()

    schema_clone(source=TEMPLATE, target="clone_probe")

    assert fingerprint_difference(schema_fingerprint(TEMPLATE),
                                  schema_fingerprint("clone_probe")) == {}
    # The copied function counts the copy's rows, not the template's.
    sql("DELETE FROM clone_probe.probe_log", "DELETE FROM clone_probe.probe_item")
    assert one("SELECT clone_probe.probe_count()")[0] == 0
    assert one("SELECT count(*) FROM clone_probe.probe_view")[0] == 0
    assert one("SELECT count(*) FROM tally_template.probe_view")[0] == 2
    sql("DROP FUNCTION tally_template.probe_positive CASCADE")
    with pytest.raises(DatabaseError, match="probe_note_positive"), transaction.atomic():
        sql("INSERT INTO clone_probe.probe_note VALUES (-1)")


def test_the_copied_invoice_triggers_call_the_copied_functions(db):
    schema_clone(source=TEMPLATE, target="clone_probe")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgrelid::regclass::text, t.tgfoid::regprocedure::text FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relnamespace = %s::regnamespace AND NOT t.tgisinternal ORDER BY 1",
            ["clone_probe"],
        )
        assert cursor.fetchall() == [
            ("clone_probe.invoicing_invoice", "clone_probe.tally_invoice_frozen()"),
            ("clone_probe.invoicing_invoiceline", "clone_probe.tally_invoice_line_frozen()"),
        ]


def test_a_template_with_what_the_clone_cannot_copy_is_refused(db):
    sql("CREATE TYPE tally_template.probe_mood AS ENUM ('ok', 'not ok')")

    with pytest.raises(CloneRefused, match="pg_type"):
        schema_clone(source=TEMPLATE, target="clone_probe")
    assert not schema_exists("clone_probe")


def test_a_failure_after_the_clone_leaves_no_provider_schema_or_domain(db, alpha):
    # The host the new provider would get is taken: the last step fails, after the clone.
    Domain.objects.create(domain="omega.localhost", tenant=alpha)

    with pytest.raises(IntegrityError):
        provider_onboard(name="Omega", slug="omega", admin_username="olga")

    assert not Provider.objects.filter(slug="omega").exists()
    assert not schema_exists("omega")
    assert Domain.objects.get(domain="omega.localhost").tenant == alpha
