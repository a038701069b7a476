"""The operator's late-usage report: events refused because their cycle was finalized,
kept so nothing sent to Tally disappears silently (correct the month with a credit)."""

from django.views.decorators.http import require_GET

from dashboards import exports
from dashboards.selectors.paging import paginate
from dashboards.selectors.usage import late_usage, late_usage_cycles
from dashboards.views.page import fleet_required, render_page

LATE_COLUMNS = [
    ("stream", lambda e: e.stream), ("event_id", lambda e: e.event_id),
    ("occurred_at", lambda e: e.occurred_at.isoformat()), ("cycle", lambda e: e.cycle),
    ("project", lambda e: e.project), ("subject", lambda e: e.subject),
    ("summary", lambda e: e.summary),
    ("first_received_at", lambda e: e.first_received_at.isoformat()),
    ("last_received_at", lambda e: e.last_received_at.isoformat()),
    ("received_count", lambda e: e.received_count),
]


@fleet_required
@require_GET
def operator_late(request):
    cycles = late_usage_cycles()
    cycle = request.GET.get("cycle") or ""
    if cycle not in cycles:
        cycle = ""
    rows = late_usage(cycle=cycle or None)
    if exports.wants_csv(request):
        return exports.table_csv(name=f"late-usage-{cycle or 'all'}", columns=LATE_COLUMNS,
                                 items=rows.iterator(chunk_size=2000))
    page = paginate(rows, page=request.GET.get("page"))
    return render_page(request, "dashboards/operator_late.html",
                       {"page": page, "late_cycles": cycles, "late_cycle": cycle})
