"""The operator's fleet pages: the fleet dashboard, spend per organization and per
project, unentitled usage, invoices needing attention, and running the rating now."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import request_access
from dashboards import exports
from dashboards.selectors.billing_cycles import dashboard_cycle
from dashboards.selectors.invoices import attention_reasons, invoices_needing_attention
from dashboards.selectors.paging import PREVIEW_SIZE, TOP_SIZE, paginate
from dashboards.selectors.spend import (
    billed_lines,
    organization_spend,
    project_spend,
    rated_until,
    spend_by_region,
    spend_by_service,
    spend_trend,
)
from dashboards.selectors.usage import (
    ingestion_today,
    unentitled_usage,
    unentitled_usage_available,
)
from dashboards.views.page import (
    PRICE_LIST_URL,
    fleet_required,
    instant_text,
    money_text,
    page_currency,
    page_now,
    period_param,
    render_page,
)
from dashboards.views.widgets import projects_csv, summary_context, with_forecasts
from invoicing.jobs import rate_open_cycles

RATED = "Rated {cycles}: {lines} lines on {invoices} draft invoices."
NOTHING_TO_RATE = "No open billing cycle has started yet: nothing to rate."


@fleet_required
@require_GET
def operator(request):
    access = request_access(request)
    now = page_now()
    cycle = dashboard_cycle(label=request.GET.get("period"), now=now)
    context: dict = {"cycle": cycle, "price_list_url": PRICE_LIST_URL, "unentitled": None,
                     "ingestion": ingestion_today(now=now)}
    if cycle is not None:
        context.update(_fleet_spend(cycle=cycle, access=access))
    preview = list(invoices_needing_attention()[: PREVIEW_SIZE + 1])
    context["attention"] = [
        {"invoice": i, "reasons": attention_reasons(i)} for i in preview[:PREVIEW_SIZE]
    ]
    context["attention_more"] = len(preview) > PREVIEW_SIZE
    return render_page(request, "dashboards/operator.html", context, period_picker=True)


def _fleet_spend(*, cycle, access) -> dict:
    """The fleet dashboard's spend widgets for `cycle`."""
    lines = billed_lines(cycle=cycle)
    context = summary_context(cycle=cycle, lines=lines)
    trend = spend_trend(upto=cycle)
    context.update({
        "trend": trend,
        "by_region": spend_by_region(lines=lines),
        "by_service": spend_by_service(lines=lines),
        "top_organizations": list(
            organization_spend(cycle=cycle, access=access)[:TOP_SIZE]),
        "top_projects": with_forecasts(
            list(project_spend(cycle=cycle, access=access)[:TOP_SIZE]),
            cycle=cycle, until=context["summary"].rated_until),
        "trend_chart": {
            "labels": [p.label for p in trend],
            "actual": [money_text(p.amount) for p in trend],
        },
    })
    if unentitled_usage_available():
        rows = unentitled_usage(cycle=cycle)
        context["unentitled"] = rows[:PREVIEW_SIZE]
        context["unentitled_count"] = len(rows)
    return context


@fleet_required
@require_GET
def operator_organizations(request):
    access = request_access(request)
    cycle = dashboard_cycle(label=period_param(request), now=page_now())
    if cycle is None:
        return render_page(request, "dashboards/operator_organizations.html", {"cycle": None},
                           period_picker=True)
    rows = organization_spend(cycle=cycle, access=access)
    if exports.wants_csv(request):
        return exports.table_csv(
            name=f"organizations-{cycle.label}",
            columns=[("organization", lambda r: r["name"]),
                     ("display_name", lambda r: r["display_name"]),
                     ("period", lambda r: cycle.label), ("currency", lambda r: page_currency()),
                     ("spend", lambda r: money_text(r["total"]))],
            items=rows.iterator(chunk_size=2000),
        )
    page = paginate(rows, page=request.GET.get("page"))
    return render_page(request, "dashboards/operator_organizations.html",
                       {"cycle": cycle, "page": page}, period_picker=True)


@fleet_required
@require_GET
def operator_projects(request):
    access = request_access(request)
    cycle = dashboard_cycle(label=period_param(request), now=page_now())
    if cycle is None:
        return render_page(request, "dashboards/operator_projects.html", {"cycle": None},
                           period_picker=True)
    rows = project_spend(cycle=cycle, access=access)
    until = rated_until(cycle=cycle)
    if exports.wants_csv(request):
        return projects_csv(rows, cycle=cycle, until=until, name=f"projects-{cycle.label}")
    page = paginate(rows, page=request.GET.get("page"))
    page.object_list = with_forecasts(list(page.object_list), cycle=cycle, until=until)
    return render_page(request, "dashboards/operator_projects.html",
                       {"cycle": cycle, "page": page}, period_picker=True)


@fleet_required
@require_GET
def operator_unentitled(request):
    cycle = dashboard_cycle(label=period_param(request), now=page_now())
    if not unentitled_usage_available():
        raise Http404("this provider prices all usage by its list prices")
    rows = unentitled_usage(cycle=cycle) if cycle is not None else []
    if exports.wants_csv(request):
        return exports.table_csv(
            name=f"unentitled-usage-{cycle.label if cycle else 'none'}",
            columns=[("organization", lambda r: r.organization), ("project", lambda r: r.project),
                     ("metric", lambda r: r.metric), ("events", lambda r: r.events),
                     ("total_value", lambda r: format(r.total_value.normalize(), "f")),
                     ("first_at", lambda r: instant_text(r.first_at)),
                     ("last_at", lambda r: instant_text(r.last_at))],
            items=rows,
        )
    page = paginate(rows, page=request.GET.get("page"))
    return render_page(request, "dashboards/operator_unentitled.html",
                       {"cycle": cycle, "page": page}, period_picker=True)


@fleet_required
@require_GET
def operator_attention(request):
    invoices = invoices_needing_attention()
    if exports.wants_csv(request):
        return exports.table_csv(
            name="invoices-needing-attention",
            columns=[("invoice", lambda i: i.number), ("period", lambda i: i.cycle.label),
                     ("organization", lambda i: i.billing_account.organization.name),
                     ("billing_account", lambda i: i.billing_account.name),
                     ("currency", lambda i: i.currency),
                     ("total", lambda i: money_text(i.total)),
                     ("problems", lambda i: "; ".join(attention_reasons(i))),
                     ("last_error", lambda i: i.delivery.last_error if _delivery(i) else "")],
            items=invoices.iterator(chunk_size=500),
        )
    page = paginate(invoices, page=request.GET.get("page"))
    rows = [{"invoice": i, "reasons": attention_reasons(i)} for i in page]
    return render_page(request, "dashboards/operator_attention.html",
                       {"page": page, "rows": rows})


def _delivery(invoice):
    return getattr(invoice, "delivery", None)


@fleet_required
@require_POST
def operator_rate(request):
    """Fleet admin: run the rating job now (what beat runs every few minutes), so a price
    just changed in the admin shows on the drafts and forecasts at once."""
    if not request_access(request).fleet_admin:
        raise Http404("only a fleet admin runs the rating")
    runs = [r for r in rate_open_cycles(now=page_now()) if not r.skipped]
    if runs:
        messages.success(request, RATED.format(
            cycles=", ".join(r.cycle for r in runs), lines=sum(r.lines for r in runs),
            invoices=sum(r.invoices for r in runs)))
    else:
        messages.info(request, NOTHING_TO_RATE)
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = reverse("operator")
    return redirect(target)
