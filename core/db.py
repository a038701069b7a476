"""Small PostgreSQL helpers shared by the apps."""

from functools import cache

from django.contrib.postgres.fields import DateTimeRangeField
from django.db import connection
from django.db.models import Func


class TsTzRange(Func):
    """`tstzrange(start, end, '[)')`: a half-open period, for exclusion constraints."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


@cache
def _row_query(model, column: str) -> tuple[str, list[str]]:
    fields = [f.attname for f in model._meta.concrete_fields]
    names = ", ".join(f'"{name}"' for name in fields)
    return f'SELECT {names} FROM "{model._meta.db_table}" WHERE "{column}" = %s', fields


def row_get(model, column: str, value):
    """The one instance of `model` whose unique `column` equals `value`, or None.

    For the hottest paths only: one prepared statement text per (model, column)
    instead of the ORM's query compiler, which costs more than the query itself
    on an indexed single-row read.
    """
    sql, fields = _row_query(model, column)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    return None if row is None else model.from_db(connection.alias, fields, row)
