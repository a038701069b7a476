"""The consumers' pages: the spend they may see, an organization's page (spend,
invoices, billing accounts, offers, budgets) and its invoices, and a project's page."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.views.decorators.http import require_GET

from accounts.permissions import request_access
from accounts.selectors import organization_get, project_get
from dashboards import exports
from dashboards.selectors.billing_accounts import billing_accounts_with_projects
from dashboards.selectors.billing_cycles import dashboard_cycle
from dashboards.selectors.budget_status import budgets_for
from dashboards.selectors.invoices import past_invoices, upcoming_invoices
from dashboards.selectors.offers import organization_offers
from dashboards.selectors.paging import PREVIEW_SIZE, paginate
from dashboards.selectors.quota import unused_quota_report
from dashboards.selectors.spend import (
    organization_lines,
    organization_spend,
    project_lines,
    project_spend,
    rated_until,
)
from dashboards.views.page import instant_text, money_text, page_now, period_param, render_page
from dashboards.views.widgets import (
    lines_csv,
    projects_csv,
    summary_context,
    with_forecasts,
    with_pdf,
)


@login_required
@require_GET
def spend(request):
    """What the caller may see the spend of: their organizations and projects."""
    access = request_access(request)
    cycle = dashboard_cycle(label=period_param(request), now=page_now())
    context: dict = {"cycle": cycle}
    if cycle is not None:
        organizations = organization_spend(cycle=cycle, access=access)
        projects = project_spend(cycle=cycle, access=access)
        if exports.wants_csv(request):
            return projects_csv(projects, cycle=cycle, until=rated_until(cycle=cycle),
                                name=f"projects-{cycle.label}")
        org_page = paginate(organizations, page=request.GET.get("orgs_page"))
        project_page = paginate(projects, page=request.GET.get("projects_page"))
        project_page.object_list = with_forecasts(
            list(project_page.object_list), cycle=cycle, until=rated_until(cycle=cycle))
        context.update({"org_page": org_page, "project_page": project_page})
    return render_page(request, "dashboards/spend.html", context, period_picker=True)


def _visible_org(request, name: str):
    """The organization if the caller may see its billing; 404 otherwise (a project
    viewer sees the project, not its organization's spend)."""
    access = request_access(request)
    organization = organization_get(access=access, name=name)
    if not access.can_view_org(organization.pk):
        raise Http404(f"no organization {name!r}")
    return organization


@login_required
@require_GET
def organization(request, name: str):
    access = request_access(request)
    org = _visible_org(request, name)
    now = page_now()
    cycle = dashboard_cycle(label=period_param(request), now=now)
    context: dict = {"organization": org, "cycle": cycle,
                     "can_manage": access.can_manage_org(org.pk)}
    if cycle is not None:
        lines = organization_lines(cycle=cycle, organization=org)
        context.update(summary_context(cycle=cycle, lines=lines))
        projects = project_spend(cycle=cycle, access=access, organization=org)
        until = context["summary"].rated_until
        if exports.wants_csv(request):
            return projects_csv(projects, cycle=cycle, until=until,
                                name=f"{org.name}-projects-{cycle.label}")
        page = paginate(projects, page=request.GET.get("projects_page"))
        page.object_list = with_forecasts(list(page.object_list), cycle=cycle, until=until)
        context["project_page"] = page
        context["budgets"] = budgets_for(organization=org, cycle=cycle,
                                         spend=context["summary"].total,
                                         forecast=context["summary"].forecast,
                                         since=until)
    context["unused_quota"] = unused_quota_report(projects=org.projects.all(), now=now)
    context["upcoming"] = upcoming_invoices(organization=org, cycle=cycle)
    past = list(past_invoices(organization=org)[:PREVIEW_SIZE + 1])
    context["past_invoices"] = with_pdf(past[:PREVIEW_SIZE])
    context["past_more"] = len(past) > PREVIEW_SIZE
    accounts = billing_accounts_with_projects(organization=org, at=now)
    offers = organization_offers(organization=org, accounts=accounts, now=now)
    context.update({"accounts": accounts, "offers": offers.offers,
                    "entitlements": offers.entitlements})
    return render_page(request, "dashboards/organization.html", context, period_picker=True)


@login_required
@require_GET
def organization_invoices(request, name: str):
    org = _visible_org(request, name)
    invoices = past_invoices(organization=org)
    if exports.wants_csv(request):
        return exports.table_csv(
            name=f"{org.name}-invoices",
            columns=[("invoice", lambda i: i.number), ("period", lambda i: i.cycle.label),
                     ("billing_account", lambda i: i.billing_account.name),
                     ("status", lambda i: i.status), ("currency", lambda i: i.currency),
                     ("subtotal", lambda i: money_text(i.subtotal)),
                     ("total", lambda i: money_text(i.total)),
                     ("issued_at", lambda i: instant_text(i.issued_at))],
            items=invoices.iterator(chunk_size=2000),
        )
    page = paginate(invoices, page=request.GET.get("page"))
    page.object_list = with_pdf(list(page.object_list))
    return render_page(request, "dashboards/organization_invoices.html",
                       {"organization": org, "page": page})


@login_required
@require_GET
def project(request, name: str):
    access = request_access(request)
    now = page_now()
    proj = project_get(access=access, name=name, at=now)
    cycle = dashboard_cycle(label=period_param(request), now=now)
    context: dict = {"project": proj, "cycle": cycle,
                     "sees_org": access.can_view_org(proj.organization_id)}
    if cycle is not None:
        lines = project_lines(cycle=cycle, project=proj)
        context.update(summary_context(cycle=cycle, lines=lines))
        ordered = lines.select_related("invoice__cycle").order_by("sort_key", "id")
        if exports.wants_csv(request):
            return lines_csv(ordered, name=f"{proj.name}-lines-{cycle.label}")
        context["line_page"] = paginate(ordered, page=request.GET.get("page"))
        context["budgets"] = budgets_for(project=proj, cycle=cycle,
                                         spend=context["summary"].total,
                                         forecast=context["summary"].forecast,
                                         since=context["summary"].rated_until)
    context["unused_quota"] = unused_quota_report(projects=[proj], now=now)
    current = getattr(proj, "current_assignments", [])
    context["billing_account"] = current[0].billing_account if current else None
    return render_page(request, "dashboards/project.html", context, period_picker=True)
