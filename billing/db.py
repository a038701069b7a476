"""Small PostgreSQL helpers shared by the apps."""

from django.contrib.postgres.fields import DateTimeRangeField
from django.db.models import Func


class TsTzRange(Func):
    """`tstzrange(start, end, '[)')`: a half-open period, for exclusion constraints."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()
