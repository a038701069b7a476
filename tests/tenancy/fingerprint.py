"""Everything that makes a schema what it is, read from the catalog, comparable across schemas.

Read with the search_path set to the schema itself, so names of its own objects
print unqualified and two faithful copies give equal fingerprints; a clone whose
default, key or trigger pointed back at the template would print it qualified.
This is deliberately written apart from tenancy/cloning.py (it finds objects by
relnamespace, not through pg_depend) so that one cannot hide the other's gaps.
"""

from django.db import connection

RELATIONS = """
    SELECT c.relname, c.relkind, c.relpersistence, c.reloptions,
           CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
           CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
           (SELECT string_agg(p.relname, ',' ORDER BY i.inhseqno) FROM pg_inherits i
            JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = c.oid),
           CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
    FROM pg_class c WHERE c.relnamespace = %s::regnamespace
"""

COLUMNS = """
    SELECT c.relname,
           row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
           format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated,
           a.attcollation, pg_get_expr(d.adbin, d.adrelid)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p', 'v')
      AND a.attnum > 0 AND NOT a.attisdropped
"""

CONSTRAINTS = """
    SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid), c.condeferrable,
           c.condeferred, c.convalidated, c.conislocal, c.coninhcount,
           (SELECT p.conname FROM pg_constraint p WHERE p.oid = c.conparentid),
           (SELECT i.relname FROM pg_class i WHERE i.oid = c.conindid)
    FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
    WHERE c.connamespace = %s::regnamespace
"""

INDEXES = """
    SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid, 0, true), x.indisunique,
           x.indisprimary, x.indisvalid, x.indimmediate,
           (SELECT p.relname FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent
            WHERE h.inhrelid = i.oid)
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    WHERE i.relnamespace = %s::regnamespace
"""

# Internal triggers (those of foreign keys) have names made of OIDs: compared by
# what they do and for which constraint.
TRIGGERS = """
    SELECT t.relname,
           CASE WHEN g.tgisinternal THEN k.conname ELSE g.tgname END,
           CASE WHEN g.tgisinternal THEN g.tgfoid::regproc::text || ' ' || g.tgtype
                ELSE pg_get_triggerdef(g.oid, true) END,
           g.tgenabled, g.tgisinternal,
           (SELECT CASE WHEN p.tgisinternal THEN 'internal' ELSE p.tgname END
            FROM pg_trigger p WHERE p.oid = g.tgparentid)
    FROM pg_trigger g
    JOIN pg_class t ON t.oid = g.tgrelid
    LEFT JOIN pg_constraint k ON k.oid = g.tgconstraint
    WHERE t.relnamespace = %s::regnamespace
"""

SEQUENCES = """
    SELECT s.relname, format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin,
           q.seqmax, q.seqcache, q.seqcycle, d.deptype, t.relname, a.attname
    FROM pg_class s
    JOIN pg_sequence q ON q.seqrelid = s.oid
    LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
        AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_class t ON t.oid = d.refobjid
    LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE s.relnamespace = %s::regnamespace
"""

# The schema's own name is cut out of the definition: pg_get_functiondef always
# prints it in the header, and a body may name it.
FUNCTIONS = """
    SELECT p.proname, pg_get_function_identity_arguments(p.oid),
           replace(replace(pg_get_functiondef(p.oid), quote_ident(%s) || '.', ''),
                   '"' || %s || '".', '')
    FROM pg_proc p WHERE p.pronamespace = %s::regnamespace
"""

OTHER_TYPES = """
    SELECT t.typname, t.typtype FROM pg_type t
    WHERE t.typnamespace = %s::regnamespace AND t.typrelid = 0 AND t.typelem = 0
"""

TABLES = """
    SELECT c.relname FROM pg_class c
    WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r'
"""


def schema_fingerprint(schema: str) -> dict[str, set]:
    """What a schema holds: its catalog, sequence values and each table's rows."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('search_path')")
        previous = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('search_path', %s, true)", [f'"{schema}", public'])
        found: dict[str, set] = {}
        for name, sql, params in [
            ("relations", RELATIONS, [schema]),
            ("columns", COLUMNS, [schema]),
            ("constraints", CONSTRAINTS, [schema]),
            ("indexes", INDEXES, [schema]),
            ("triggers", TRIGGERS, [schema]),
            ("sequences", SEQUENCES, [schema]),
            ("functions", FUNCTIONS, [schema, schema, schema]),
            ("types", OTHER_TYPES, [schema]),
        ]:
            cursor.execute(sql, params)
            found[name] = {_hashable(row) for row in cursor.fetchall()}

        sequences = sorted(row[0] for row in found["sequences"])
        found["sequence values"] = set()
        if sequences:
            cursor.execute(" UNION ALL ".join(
                f"SELECT '{name}', last_value, is_called FROM \"{schema}\".\"{name}\""
                for name in sequences
            ))
            found["sequence values"] = set(cursor.fetchall())

        cursor.execute(TABLES, [schema])
        tables = sorted(row[0] for row in cursor.fetchall())
        # Each table's row count and the digest of its rows in a stable order.
        cursor.execute(" UNION ALL ".join(
            f"SELECT '{table}', count(*), md5(coalesce(string_agg(r::text, E'\\n' "
            f"ORDER BY r::text), '')) FROM \"{schema}\".\"{table}\" r"
            for table in tables
        ))
        found["rows"] = set(cursor.fetchall())
        cursor.execute("SELECT set_config('search_path', %s, true)", [previous])
    return found


def _hashable(row: tuple) -> tuple:
    return tuple(tuple(value) if isinstance(value, list) else value for value in row)


def fingerprint_difference(left: dict[str, set], right: dict[str, set]) -> dict[str, dict]:
    """Per part, what only one side has (empty when the two are the same)."""
    return {
        part: {"only left": sorted(left[part] - right[part], key=repr),
               "only right": sorted(right[part] - left[part], key=repr)}
        for part in left
        if left[part] != right[part]
    }
