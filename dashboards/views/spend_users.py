"""Spend per user: what each user who created resources spends in a cycle (seed 002),
drillable to the invoice lines behind each figure."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.views.decorators.http import require_GET

from accounts.permissions import request_access
from dashboards.selectors.billing_cycles import dashboard_cycle
from dashboards.selectors.paging import paginate
from dashboards.selectors.spend_users import one_users_lines, scope_named, users_spend
from dashboards.views.page import page_now, period_param, render_page

NOT_ATTRIBUTED = "-"  # the `user` value of the lines attributed to no user


@login_required
@require_GET
def spend_users(request):
    access = request_access(request)
    cycle = dashboard_cycle(label=period_param(request), now=page_now())
    org_name, project_name = request.GET.get("org", ""), request.GET.get("project", "")
    organization, project, found = scope_named(access=access, organization=org_name,
                                               project=project_name)
    if not found:
        raise Http404("no such organization or project for this user")
    context: dict = {"cycle": cycle, "organization": organization, "project": project,
                     "not_attributed_key": NOT_ATTRIBUTED}
    if cycle is not None:
        lines, spend = users_spend(access=access, cycle=cycle, organization=organization,
                                   project=project)
        scope = {k: v for k, v in (("period", cycle.label), ("org", org_name),
                                   ("project", project_name)) if v}
        context.update({"spend": spend, "scope_query": urlencode(scope)})
        chosen = request.GET.get("user")
        if chosen:
            context.update(_drill(request, lines, spend, chosen))
    return render_page(request, "dashboards/spend_users.html", context, period_picker=True)


def _drill(request, lines, spend, chosen: str) -> dict:
    """The chosen user's lines (or those of no user), paginated; 404 for a user with
    no spend in this scope."""
    if chosen == NOT_ATTRIBUTED:
        row = spend.not_attributed
    else:
        row = next((u for u in spend.users if u.username == chosen), None)
        if row is None:
            raise Http404("no spend of this user in this scope")
    page = paginate(one_users_lines(lines=lines, user_id=row.user_id),
                    page=request.GET.get("page"))
    return {"chosen": row, "line_page": page}
