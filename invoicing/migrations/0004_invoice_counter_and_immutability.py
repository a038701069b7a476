from django.db import migrations

# A finalized (or void) invoice never changes: PostgreSQL refuses any change to
# its lines and to its money, number and period, whatever code path tries.
IMMUTABLE_SQL = """
CREATE OR REPLACE FUNCTION tally_invoice_line_frozen() RETURNS trigger AS $$
DECLARE
    invoice_status text;
BEGIN
    SELECT status INTO invoice_status FROM invoicing_invoice
        WHERE id = COALESCE(OLD.invoice_id, NEW.invoice_id);
    IF invoice_status IS DISTINCT FROM 'draft' THEN
        RAISE EXCEPTION 'invoice % is %: its lines never change',
            COALESCE(OLD.invoice_id, NEW.invoice_id), invoice_status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN COALESCE(NEW, OLD);
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER invoice_line_frozen
    BEFORE INSERT OR UPDATE OR DELETE ON invoicing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION tally_invoice_line_frozen();

CREATE OR REPLACE FUNCTION tally_invoice_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % is %: it is never deleted', OLD.number, OLD.status
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        NEW.total, NEW.subtotal, NEW.currency, NEW.number, NEW.sequence, NEW.issued_at,
        NEW.billing_account_id, NEW.cycle_id, NEW.account_name, NEW.organization_name,
        NEW.provider_name, NEW.provider_address, NEW.due_at
    ) IS DISTINCT FROM (
        OLD.total, OLD.subtotal, OLD.currency, OLD.number, OLD.sequence, OLD.issued_at,
        OLD.billing_account_id, OLD.cycle_id, OLD.account_name, OLD.organization_name,
        OLD.provider_name, OLD.provider_address, OLD.due_at
    ) THEN
        RAISE EXCEPTION 'invoice % is %: it never changes', OLD.number, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.status = 'void' AND NEW.status <> 'void' THEN
        RAISE EXCEPTION 'invoice % is void for good', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.status = 'finalized' AND NEW.status = 'draft' THEN
        RAISE EXCEPTION 'invoice % is finalized: it never returns to draft', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER invoice_frozen
    BEFORE UPDATE OR DELETE ON invoicing_invoice
    FOR EACH ROW EXECUTE FUNCTION tally_invoice_frozen();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS invoice_frozen ON invoicing_invoice;
DROP FUNCTION IF EXISTS tally_invoice_frozen();
DROP TRIGGER IF EXISTS invoice_line_frozen ON invoicing_invoiceline;
DROP FUNCTION IF EXISTS tally_invoice_line_frozen();
"""


def create_counter(apps, schema_editor):
    apps.get_model("invoicing", "InvoiceCounter").objects.get_or_create(name="invoices")


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0003_rating_run_and_closing")]

    operations = [
        migrations.RunPython(create_counter, migrations.RunPython.noop),
        migrations.RunSQL(IMMUTABLE_SQL, DROP_SQL),
    ]
