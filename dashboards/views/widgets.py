"""Pieces several pages share: the spend summary with its daily chart, forecasts on
project rows, PDF links on invoice rows, and the project and line tables as CSV."""

from dashboards import exports
from dashboards.selectors.daily_spend import daily_spend
from dashboards.selectors.invoices import invoice_pdf_ready
from dashboards.selectors.spend import project_forecasts, spend_by_resource_type, summary
from dashboards.views.page import instant_text, money_text, page_currency


def summary_context(*, cycle, lines) -> dict:
    """KPIs, split by resource type and the daily chart of one scope's lines."""
    if cycle is None:
        return {"summary": None}
    spend = summary(cycle=cycle, lines=lines)
    days = daily_spend(cycle=cycle, lines=lines, daily_rate=spend.daily_rate,
                       until=spend.rated_until)
    return {
        "summary": spend,
        "by_type": spend_by_resource_type(lines=lines),
        "daily_chart": {
            "labels": [d.day.isoformat() for d in days],
            "actual": [money_text(d.amount) if d.amount is not None else None for d in days],
            "projected": [money_text(d.projected) if d.projected is not None else None
                          for d in days],
        },
        "days": days,
    }


def with_forecasts(rows: list[dict], *, cycle, until=None) -> list[dict]:
    """Each project row with its month-end forecast (the upcoming invoice's computation)."""
    forecasts = project_forecasts(cycle=cycle, project_ids=[row["id"] for row in rows])
    for row in rows:
        row["forecast"] = forecasts.get(row["id"], row["total"])
    return rows


def with_pdf(invoices: list) -> list:
    for invoice in invoices:
        invoice.pdf_ready = invoice_pdf_ready(invoice)
    return invoices


def projects_csv(rows, *, cycle, until, name: str):
    currency = page_currency()

    def with_forecast():
        batch: list[dict] = []
        for row in rows.iterator(chunk_size=500):
            batch.append(row)
            if len(batch) == 500:
                yield from with_forecasts(batch, cycle=cycle)
                batch = []
        yield from with_forecasts(batch, cycle=cycle)

    return exports.table_csv(
        name=name,
        columns=[("project", lambda r: r["name"]),
                 ("organization", lambda r: r["organization__name"]),
                 ("period", lambda r: cycle.label), ("currency", lambda r: currency),
                 ("spend", lambda r: money_text(r["total"])),
                 ("daily_rate", lambda r: money_text(r["daily_rate"])),
                 ("forecast", lambda r: money_text(r["forecast"]))],
        items=with_forecast(),
    )


LINE_COLUMNS = [
    ("period_start", lambda ln: instant_text(ln.period_start)),
    ("period_end", lambda ln: instant_text(ln.period_end)),
    ("region", lambda ln: ln.region), ("description", lambda ln: ln.description),
    ("resource", lambda ln: ln.resource_label), ("project", lambda ln: ln.project_name),
    ("resource_type", lambda ln: ln.metric_key), ("kind", lambda ln: ln.kind),
    ("resource_count", lambda ln: ln.resource_count),
    ("quantity", lambda ln: format(ln.quantity.normalize(), "f")),
    ("unit", lambda ln: ln.unit), ("rate", lambda ln: format(ln.rate.normalize(), "f")),
    ("amount", lambda ln: money_text(ln.amount)),
]


def lines_csv(lines, *, name: str):
    return exports.table_csv(name=name, columns=LINE_COLUMNS,
                             items=lines.iterator(chunk_size=2000))
