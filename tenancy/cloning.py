"""Copy the template schema into a new provider schema, at a cost set by the template alone.

django-tenants' clone function asks the whole catalog once per object it copies,
so each new provider took longer than the last (2 s with a few providers, 17 to
28 s with 50). Here the template's catalog is read in a dozen set-based queries,
each reaching the template's objects through an index: pg_depend on the
template's namespace OID finds its relations and functions, everything else is
looked up by those relations' OIDs. DDL is generated from what was read and run
in a few batches.

Names are kept: every constraint, index, trigger and sequence has its template
name, so a later migration that alters one by name works on every provider.

What is read is printed by the pg_get_* functions with the search_path set to
the template, so names inside it come out unqualified (`nextval('x'::regclass)`,
`REFERENCES accounts_project(id)`) and resolve in the new schema when the DDL
runs with the search_path set to it. Objects outside the template (btree_gist in
public) stay qualified or resolve through public, as they do for the template.
Tables are made with `LIKE template.table`, which copies types, NOT NULLs and
check constraints as stored: a check printed and parsed again can come back as
a different (equivalent) expression.

The order follows pg_dump's: functions, sequences, tables and partitions, rows,
sequence values, then keys, indexes (attached to their partitioned parents),
foreign keys, triggers and views. Rows are copied before keys, foreign keys and
triggers exist, so no trigger fires on them and each key is built once.

Anything this code does not know how to copy (enum or domain types, materialized
views, table inheritance, rules, policies, ...) makes it refuse instead of
producing a clone that silently differs.
"""

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import connection, transaction

NAMESPACE_OID = "SELECT oid FROM pg_namespace WHERE nspname = %s"

# What the template holds besides relations and functions, by catalog.
NAMESPACE_MEMBERS = """
    SELECT d.classid::regclass::text, count(*)
    FROM pg_depend d
    WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = %s
    GROUP BY 1
"""

RELATIONS = """
    SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relispartition,
           c.reloptions, c.relrowsecurity,
           CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
           CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
           (SELECT array_agg(i.inhparent ORDER BY i.inhseqno) FROM pg_inherits i
            WHERE i.inhrelid = c.oid),
           CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END
    FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
    WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = %s
      AND d.classid = 'pg_class'::regclass AND c.relnamespace = %s
    ORDER BY c.oid
"""

COLUMNS = """
    SELECT a.attrelid, a.attname, a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid),
           a.attidentity, a.attgenerated
    FROM pg_attribute a
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attrelid, a.attnum
"""

# Every sequence with its options, the column that owns it (serial, 'a') or
# whose identity it is ('i'), and nothing about its value (read separately).
SEQUENCES = """
    SELECT s.oid, s.relname, format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement,
           q.seqmin, q.seqmax, q.seqcache, q.seqcycle, d.deptype, d.refobjid, a.attname
    FROM pg_class s
    JOIN pg_sequence q ON q.seqrelid = s.oid
    LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
        AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE s.oid = ANY(%s)
"""

CONSTRAINTS = """
    SELECT c.oid, c.conrelid, c.conname, c.contype, pg_get_constraintdef(c.oid),
           c.conparentid <> 0, c.conislocal, c.convalidated, c.conindid
    FROM pg_constraint c
    WHERE c.conrelid = ANY(%s) AND c.contype IN ('p', 'u', 'x', 'c', 'f')
    ORDER BY c.oid
"""

INDEXES = """
    SELECT i.indexrelid, c.relname, pg_get_indexdef(i.indexrelid, 0, true),
           (SELECT h.inhparent FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = ANY(%s)
    ORDER BY i.indexrelid
"""

TRIGGERS = """
    SELECT t.tgrelid, t.tgname, pg_get_triggerdef(t.oid, true), t.tgenabled
    FROM pg_trigger t
    WHERE t.tgrelid = ANY(%s) AND NOT t.tgisinternal AND t.tgparentid = 0
    ORDER BY t.oid
"""

FUNCTIONS = """
    SELECT p.oid, p.prokind,
           quote_ident(n.nspname) || '.' || quote_ident(p.proname),
           quote_ident(p.proname),
           CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END
    FROM pg_depend d
    JOIN pg_proc p ON p.oid = d.objid
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = %s
      AND d.classid = 'pg_proc'::regclass
    ORDER BY p.oid
"""

# Checks and generated columns that call the template's own functions: LIKE would
# copy them calling the template's functions, not the copies.
FUNCTION_CALLERS = """
    SELECT 'check', c.oid, c.conrelid, c.conname
    FROM pg_depend d JOIN pg_constraint c ON c.oid = d.objid
    WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = ANY(%s)
      AND d.classid = 'pg_constraint'::regclass
    UNION ALL
    SELECT 'generated column', ad.oid, a.attrelid, a.attname
    FROM pg_depend d
    JOIN pg_attrdef ad ON ad.oid = d.objid
    JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
    WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = ANY(%s)
      AND d.classid = 'pg_attrdef'::regclass AND a.attgenerated <> ''
"""

RULES_AND_POLICIES = """
    SELECT (SELECT count(*) FROM pg_rewrite r
            WHERE r.ev_class = ANY(%s) AND r.rulename <> '_RETURN'),
           (SELECT count(*) FROM pg_policy p WHERE p.polrelid = ANY(%s))
"""

SET_SEQUENCE_VALUES = """
    SELECT setval(format('%%I.%%I', %s::text, name)::regclass, value, called)
    FROM unnest(%s::text[], %s::bigint[], %s::boolean[]) AS v(name, value, called)
"""

SUPPORTED_MEMBERS = {"pg_class", "pg_proc"}
SUPPORTED_RELKINDS = {"r", "p", "S", "v"}


class CloneRefused(Exception):
    """The template holds something this module cannot copy faithfully."""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Column(NamedTuple):
    name: str
    not_null: bool
    default: str | None
    identity: str  # 'a' always, 'd' by default, '' none
    generated: str  # 's' stored, '' none


class Constraint(NamedTuple):
    oid: int
    relation: int
    name: str
    kind: str
    definition: str
    inherited_from_parent: bool  # a partition's copy of its parent's key or foreign key
    is_local: bool
    validated: bool
    index: int


@dataclass
class Relation:
    oid: int
    name: str
    kind: str
    persistence: str
    is_partition: bool
    options: list[str] | None
    row_security: bool
    partition_key: str | None
    bound: str | None
    parents: list[int] | None
    view: str | None
    columns: list[Column] = field(default_factory=list)
    checks: list[Constraint] = field(default_factory=list)
    checks_call_template_functions: bool = False

    @property
    def checks_copied_by_like(self) -> bool:
        # LIKE copies check expressions as stored; printing and re-parsing them
        # would not always give the same expression back (`IN (...)` lists).
        # It makes every check valid, so a NOT VALID one takes the other path.
        return (not self.is_partition and not self.checks_call_template_functions
                and all(c.validated for c in self.checks))


@dataclass
class Catalog:
    relations: dict[int, Relation]
    sequences: list[tuple]
    sequence_values: dict[int, tuple[int, bool]]
    constraints: list[Constraint]
    indexes: list[tuple]
    triggers: list[tuple]
    functions: list[tuple]


def schema_clone(*, source: str, target: str) -> dict[str, int]:
    """Create schema `target` as a copy of schema `source`: structure, names and rows.

    Runs in one transaction (a savepoint inside the caller's): on failure nothing
    of `target` is left. Returns how many objects of each kind were copied.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('search_path'), "
                       "current_setting('check_function_bodies'), "
                       "current_setting('enable_seqscan')")
        search_path, check_bodies, seqscan = cursor.fetchone()
        # The planner would rather scan a catalog whole than probe its index a few
        # hundred times while the database is small; that would cost more with
        # every provider. Each query below has an index on what it filters by.
        cursor.execute("SELECT set_config('search_path', %s, true), "
                       "set_config('enable_seqscan', 'off', true)", [f"{quote(source)}, public"])
        catalog = _catalog_read(cursor, source)
        cursor.execute("SELECT set_config('enable_seqscan', %s, true)", [seqscan])
        catalog.sequence_values = _sequence_values_read(cursor, source, catalog.relations)
        cursor.execute("SELECT set_config('search_path', %s, true)", [f"{quote(target)}, public"])
        counts = _catalog_write(cursor, catalog, source=source, target=target)
        # django-tenants believes the search_path is still the one it last set.
        cursor.execute("SELECT set_config('search_path', %s, true), "
                       "set_config('check_function_bodies', %s, true)", [search_path, check_bodies])
    return counts


def _catalog_read(cursor, source: str) -> Catalog:
    cursor.execute(NAMESPACE_OID, [source])
    row = cursor.fetchone()
    if row is None:
        raise CloneRefused(f"schema {source!r} does not exist")
    namespace = row[0]

    cursor.execute(NAMESPACE_MEMBERS, [namespace])
    unsupported = {kind: n for kind, n in cursor.fetchall() if kind not in SUPPORTED_MEMBERS}
    if unsupported:
        raise CloneRefused(f"schema {source!r} holds objects that are not copied: {unsupported}")

    cursor.execute(RELATIONS, [namespace, namespace])
    relations = {row[0]: Relation(*row) for row in cursor.fetchall()}
    refused = [r.name for r in relations.values()
               if r.kind not in SUPPORTED_RELKINDS or r.row_security
               or (r.parents and not r.is_partition)
               or any(parent not in relations for parent in r.parents or ())]
    oids = list(relations)
    cursor.execute(RULES_AND_POLICIES, [oids, oids])
    rules, policies = cursor.fetchone()
    if refused or rules or policies:
        raise CloneRefused(
            f"schema {source!r} holds what is not copied: relations {refused} (materialized "
            f"views, foreign tables, inheritance, row security, partitions of tables of "
            f"another schema), {rules} rule(s), "
            f"{policies} policy(ies)"
        )

    cursor.execute(COLUMNS, [oids])
    for relid, *column in cursor.fetchall():
        relations[relid].columns.append(Column(*column))

    sequence_oids = [oid for oid, r in relations.items() if r.kind == "S"]
    cursor.execute(SEQUENCES, [sequence_oids])
    sequences = cursor.fetchall()

    cursor.execute(CONSTRAINTS, [oids])
    constraints = [Constraint(*row) for row in cursor.fetchall()]
    for constraint in constraints:
        if constraint.kind == "c" and constraint.is_local:
            relations[constraint.relation].checks.append(constraint)
    cursor.execute(INDEXES, [oids])
    indexes = cursor.fetchall()
    cursor.execute(TRIGGERS, [oids])
    triggers = cursor.fetchall()
    cursor.execute(FUNCTIONS, [namespace])
    functions = cursor.fetchall()
    odd = [name for _, kind, name, _, _ in functions if kind not in ("f", "p")]
    if odd:
        raise CloneRefused(f"schema {source!r} holds aggregates or window functions: {odd}")
    if functions:
        function_oids = [f[0] for f in functions]
        cursor.execute(FUNCTION_CALLERS, [function_oids, function_oids])
        for kind, _oid, relid, name in cursor.fetchall():
            if relid not in relations:
                continue
            if kind != "check":
                raise CloneRefused(f"{kind} {relations[relid].name}.{name} calls a function "
                                   f"of schema {source!r}: it cannot be copied as stored")
            relations[relid].checks_call_template_functions = True
    return Catalog(relations, sequences, {}, constraints, indexes, triggers, functions)


def _sequence_values_read(cursor, source: str, relations: dict[int, Relation]) -> dict:
    """Every sequence's current value, in one statement (a sequence is read whole:
    with enable_seqscan off, planning it costs half a second)."""
    sequences = [oid for oid, r in relations.items() if r.kind == "S"]
    if not sequences:
        return {}
    cursor.execute(" UNION ALL ".join(
        f"SELECT {oid}::oid, last_value, is_called FROM {quote(source)}."
        f"{quote(relations[oid].name)}" for oid in sequences
    ))
    return {oid: (value, called) for oid, value, called in cursor.fetchall()}


def _catalog_write(cursor, catalog: Catalog, *, source: str, target: str) -> dict[str, int]:
    schema = quote(target)
    relations = catalog.relations

    def qualified(oid: int) -> str:
        return f"{schema}.{quote(relations[oid].name)}"

    cursor.execute(f"CREATE SCHEMA {schema}")

    # Functions first: defaults, checks and triggers may call them. Bodies are
    # checked when called, not now: they may name tables that do not exist yet.
    cursor.execute("SELECT set_config('check_function_bodies', 'off', true)")
    statements = [_function_ddl(f, source=source, target=target) for f in catalog.functions]

    owned, identity = [], {}
    for oid, _name, type_, start, step, low, high, cache, cycle, deptype, table, column \
            in catalog.sequences:
        options = (f"INCREMENT BY {step} MINVALUE {low} MAXVALUE {high} START WITH {start} "
                   f"CACHE {cache} {'CYCLE' if cycle else 'NO CYCLE'}")
        if deptype == "i":
            # Made by its column, of the column's type.
            identity[(table, column)] = f"SEQUENCE NAME {qualified(oid)} {options}"
            continue
        statements.append(f"CREATE SEQUENCE {qualified(oid)} AS {type_} {options}")
        if deptype == "a":
            owned.append(f"ALTER SEQUENCE {qualified(oid)} "
                         f"OWNED BY {qualified(table)}.{quote(column)}")

    tables = [r for r in _parents_first(relations) if r.kind in ("r", "p")]
    for relation in tables:
        statements.extend(_table_ddl(relation, relations, identity, source, qualified))
    statements.extend(owned)
    _run(cursor, statements)

    # Rows, before keys, foreign keys and triggers exist: nothing fires, keys are built once.
    copies = []
    for relation in tables:
        if relation.kind != "r":
            continue
        listed = ", ".join(quote(c.name) for c in relation.columns if not c.generated)
        overriding = (" OVERRIDING SYSTEM VALUE"
                      if any(c.identity == "a" for c in relation.columns) else "")
        copies.append(f"INSERT INTO {qualified(relation.oid)} ({listed}){overriding} "
                      f"SELECT {listed} FROM {quote(source)}.{quote(relation.name)}")
    _run(cursor, copies)
    if catalog.sequence_values:
        names, numbers, called = [], [], []
        for oid, (value, is_called) in catalog.sequence_values.items():
            names.append(relations[oid].name)
            numbers.append(value)
            called.append(is_called)
        cursor.execute(SET_SEQUENCE_VALUES, [target, names, numbers, called])

    statements = []
    constraint_indexes = set()
    foreign_keys = []
    for c in catalog.constraints:
        add = f"ADD CONSTRAINT {quote(c.name)} {c.definition}"
        if c.kind in ("p", "u", "x"):
            # ONLY: a partitioned table's key gets its partitions' keys attached below,
            # under their template names rather than names PostgreSQL would make up.
            constraint_indexes.add(c.index)
            statements.append(f"ALTER TABLE ONLY {qualified(c.relation)} {add}")
        elif (c.kind == "c" and c.is_local
              and not relations[c.relation].checks_copied_by_like):
            statements.append(f"ALTER TABLE {qualified(c.relation)} {add}")
        elif c.kind == "f" and not c.inherited_from_parent:
            # On a partitioned table it is copied onto each partition under its own
            # name, as it was in the template.
            foreign_keys.append(f"ALTER TABLE {qualified(c.relation)} {add}")
    names = {oid: name for oid, name, _, _ in catalog.indexes}
    attachments = []
    for oid, _name, definition, parent in catalog.indexes:
        if oid not in constraint_indexes:
            statements.append(definition)
        if parent:
            attachments.append(f"ALTER INDEX {schema}.{quote(names[parent])} "
                               f"ATTACH PARTITION {schema}.{quote(names[oid])}")
    statements.extend(attachments)
    statements.extend(foreign_keys)
    for relid, name, definition, enabled in catalog.triggers:
        statements.append(definition)
        if enabled != "O":
            mode = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}[enabled]
            statements.append(f"ALTER TABLE {qualified(relid)} {mode} TRIGGER {quote(name)}")
    views = [r for r in relations.values() if r.kind == "v"]
    for view in views:
        options = f" WITH ({', '.join(view.options)})" if view.options else ""
        statements.append(f"CREATE VIEW {qualified(view.oid)}{options} AS "
                          f"{view.view.rstrip().rstrip(';')}")
    _run(cursor, statements)
    return {
        "tables": len(tables), "views": len(views), "sequences": len(catalog.sequences),
        "constraints": len(catalog.constraints), "indexes": len(catalog.indexes),
        "triggers": len(catalog.triggers), "functions": len(catalog.functions),
    }


def _parents_first(relations: dict[int, Relation]) -> list[Relation]:
    """Relations in OID order, except that a partition comes after its parent."""
    ordered: list[Relation] = []
    placed: set[int] = set()

    def place(relation: Relation) -> None:
        if relation.oid in placed:
            return
        for parent in relation.parents or ():
            place(relations[parent])
        placed.add(relation.oid)
        ordered.append(relation)

    for relation in relations.values():
        place(relation)
    return ordered


def _table_ddl(relation: Relation, relations: dict[int, Relation], identity: dict,
               source: str, qualified) -> list[str]:
    unlogged = "UNLOGGED " if relation.persistence == "u" else ""
    partitioned = f" PARTITION BY {relation.partition_key}" if relation.partition_key else ""
    options = f" WITH ({', '.join(relation.options)})" if relation.options else ""
    name = qualified(relation.oid)
    changes = []
    if relation.is_partition:
        # A partition takes its parent's columns, NOT NULLs, defaults and checks;
        # only where the template's partition differs is it altered.
        parent = relations[relation.parents[0]]
        inherited = {c.name: c for c in parent.columns}
        create = (f"CREATE {unlogged}TABLE {name} PARTITION OF {qualified(parent.oid)} "
                  f"{relation.bound}{partitioned}{options}")
        for column in relation.columns:
            if column.default != inherited[column.name].default:
                changes.append(f"ALTER COLUMN {quote(column.name)} " + (
                    f"SET DEFAULT {column.default}" if column.default is not None
                    else "DROP DEFAULT"))
            if column.not_null and not inherited[column.name].not_null:
                changes.append(f"ALTER COLUMN {quote(column.name)} SET NOT NULL")
    else:
        # LIKE copies types, collations, NOT NULLs, generated columns and checks as
        # stored. Defaults are set below, where they name the new schema's sequences.
        like = "INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION"
        if relation.checks_copied_by_like:
            like += " INCLUDING CONSTRAINTS"
        create = (f"CREATE {unlogged}TABLE {name} (LIKE {quote(source)}.{quote(relation.name)} "
                  f"{like}){partitioned}{options}")
        for column in relation.columns:
            if column.identity:
                kind = "ALWAYS" if column.identity == "a" else "BY DEFAULT"
                changes.append(f"ALTER COLUMN {quote(column.name)} ADD GENERATED {kind} "
                               f"AS IDENTITY ({identity[(relation.oid, column.name)]})")
            elif column.default is not None and not column.generated:
                changes.append(f"ALTER COLUMN {quote(column.name)} SET DEFAULT {column.default}")
    if not changes:
        return [create]
    return [create, f"ALTER TABLE ONLY {name} " + ", ".join(changes)]


def _function_ddl(function: tuple, *, source: str, target: str) -> str:
    _oid, _kind, qualified_name, name, definition = function
    definition = definition.replace(qualified_name + "(", f"{quote(target)}.{name}(", 1)
    # A body is opaque text: qualified references to the template must follow the copy.
    pattern = re.compile(r'(?<![\w$"])(?:"' + re.escape(source) + '"|'
                         + re.escape(source) + r')(?=\s*\.)')
    definition = pattern.sub(quote(target), definition)
    if re.search(r"(?<![\w$])" + re.escape(source) + r"(?![\w$])", definition):
        raise CloneRefused(f"function {qualified_name} names schema {source!r} in a way "
                           "that cannot be retargeted")
    return definition


def _run(cursor, statements: list[str]) -> None:
    # Several statements per round trip: without parameters psycopg sends them as one query.
    batch = 200
    for start in range(0, len(statements), batch):
        cursor.execute(";\n".join(statements[start:start + batch]))
