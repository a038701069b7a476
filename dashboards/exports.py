"""CSV exports of the dashboards' tables: the same rows a table shows (every page of it),
streamed, and safe to open in a spreadsheet (`invoicing.spend_apis.csv_safe`)."""

import csv
from collections.abc import Callable, Iterable, Sequence

from django.http import StreamingHttpResponse

from invoicing.spend_apis import csv_safe
from tenancy.selectors import provider_current


class _Echo:
    def write(self, value):
        return value


def wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


def csv_response(*, name: str, header: Sequence[str], rows: Iterable[Sequence]
                 ) -> StreamingHttpResponse:
    """A streamed CSV download `<provider>-<name>.csv` with `header` and `rows`; every
    cell goes through csv_safe, so a name like `=HYPERLINK(...)` stays text."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_safe(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"{provider_current().slug}-{name}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def table_csv(*, name: str, columns: Sequence[tuple[str, Callable]], items: Iterable
              ) -> StreamingHttpResponse:
    """CSV of a table given as (heading, cell function) pairs over `items`."""
    return csv_response(
        name=name, header=[heading for heading, _ in columns],
        rows=([cell(item) for _, cell in columns] for item in items),
    )
