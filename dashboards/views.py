"""Server-rendered dashboards: the operator's fleet view and the consumers' spend.

Every view resolves the caller's roles once (`accounts.permissions.request_access`) and narrows
what it reads to them; anything outside the caller's scope answers 404, never another's
data. Views call selectors (reads) and services (writes) only. Each table offers its
rows as CSV with `?format=csv` (all its pages, the same columns).
"""

from decimal import Decimal
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import request_access
from accounts.selectors import organization_get, project_get
from dashboards import exports, selectors
from dashboards.forms import CreditForm, OfferAcceptForm
from tenancy.selectors import provider_current

PRICE_LIST_URL = "/admin/catalog/price/"
RATED = "Rated {cycles}: {lines} lines on {invoices} draft invoices."
NOTHING_TO_RATE = "No open billing cycle has started yet: nothing to rate."
CREDIT_CREATED = "Credit “{name}” created: it shows on the drafts from the next rating."
OFFER_ACCEPTED = "{account} now has {offer} (from {when:%Y-%m-%d %H:%M} UTC)."
NO_PDF = "The PDF of this invoice is not available yet."


# --- plumbing -------------------------------------------------------------------------


def fleet_required(view):
    """Signed in with a fleet role (admin or viewer); anyone else gets 404."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request_access(request).sees_fleet:
            raise Http404("not a fleet page for this user")
        return view(request, *args, **kwargs)

    return wrapper


def _nav(request, access) -> list[dict]:
    path = request.path
    items = []
    if access.sees_fleet:
        items += [
            {"label": "Fleet", "url": reverse("operator"), "current": path == reverse("operator")},
            {"label": "Organizations", "url": reverse("operator-organizations"),
             "current": path.startswith(reverse("operator-organizations"))},
            {"label": "Projects", "url": reverse("operator-projects"),
             "current": path.startswith(reverse("operator-projects"))},
            {"label": "Credits", "url": reverse("operator-credits"),
             "current": path.startswith(reverse("operator-credits"))},
        ]
    else:
        items.append({"label": "Spend", "url": reverse("spend"),
                      "current": path == reverse("spend")})
    if access.fleet_admin:
        items.append({"label": "Price list", "url": PRICE_LIST_URL, "current": False})
    return items


def _page(request, template: str, context: dict, *, period_picker: bool = False):
    access = request_access(request)
    provider = provider_current()
    base = {
        "access": access,
        "nav": _nav(request, access),
        "currency": provider.currency,
        "provider": provider,
    }
    if period_picker:
        base["cycles"] = selectors.cycle_choices(now=_now())
    return render(request, template, {**base, **context})


def _summary_context(*, cycle, lines) -> dict:
    """KPIs, split by resource type and the daily chart of one scope's lines."""
    if cycle is None:
        return {"summary": None}
    summary = selectors.summary(cycle=cycle, lines=lines)
    days = selectors.daily_spend(cycle=cycle, lines=lines, daily_rate=summary.daily_rate,
                                 until=summary.rated_until)
    return {
        "summary": summary,
        "by_type": selectors.spend_by_resource_type(lines=lines),
        "daily_chart": {
            "labels": [d.day.isoformat() for d in days],
            "actual": [_money_text(d.amount) if d.amount is not None else None for d in days],
            "projected": [_money_text(d.projected) if d.projected is not None else None
                          for d in days],
        },
        "days": days,
    }


def _now():
    return timezone.now()


# --- home -----------------------------------------------------------------------------


@login_required
@require_GET
def home(request):
    """Signed-in users land on the dashboard their roles open: the fleet's or their own."""
    if request_access(request).sees_fleet:
        return redirect("operator")
    return redirect("spend")


@login_required
@require_GET
def account(request):
    """The signed-in user's account: provider facts and API keys."""
    from accounts.selectors import api_key_list_for_user

    return _page(request, "accounts/home.html",
                 {"api_keys": api_key_list_for_user(user=request.user)})


# --- operator -------------------------------------------------------------------------


@fleet_required
@require_GET
def operator(request):
    access = request_access(request)
    now = _now()
    cycle = selectors.dashboard_cycle(label=request.GET.get("period"), now=now)
    context: dict = {"cycle": cycle, "price_list_url": PRICE_LIST_URL, "unentitled": None,
                     "ingestion": selectors.ingestion_today(now=now)}
    if cycle is not None:
        lines = selectors.billed_lines(cycle=cycle)
        context.update(_summary_context(cycle=cycle, lines=lines))
        context.update({
            "trend": selectors.spend_trend(upto=cycle),
            "by_region": selectors.spend_by_region(lines=lines),
            "by_service": selectors.spend_by_service(lines=lines),
            "top_organizations": list(
                selectors.organization_spend(cycle=cycle, access=access)[:selectors.TOP_SIZE]),
            "top_projects": _with_forecasts(
                list(selectors.project_spend(cycle=cycle, access=access)[:selectors.TOP_SIZE]),
                cycle=cycle, until=context["summary"].rated_until),
        })
        context["trend_chart"] = {
            "labels": [p.label for p in context["trend"]],
            "actual": [_money_text(p.amount) for p in context["trend"]],
        }
        if selectors.unentitled_usage_available():
            rows = selectors.unentitled_usage(cycle=cycle)
            context["unentitled"] = rows[: selectors.PREVIEW_SIZE]
            context["unentitled_count"] = len(rows)
    attention = selectors.invoices_needing_attention()
    if attention is not None:
        preview = list(attention[: selectors.PREVIEW_SIZE + 1])
        context["attention"] = [
            {"invoice": i, "reasons": selectors.attention_reasons(i)}
            for i in preview[: selectors.PREVIEW_SIZE]
        ]
        context["attention_more"] = len(preview) > selectors.PREVIEW_SIZE
    context["delivery_tracked"] = attention is not None
    return _page(request, "dashboards/operator.html", context, period_picker=True)


def _with_forecasts(rows: list[dict], *, cycle, until) -> list[dict]:
    currency = provider_current().currency
    days_left = selectors.remaining_days(cycle=cycle, until=until)
    for row in rows:
        row["forecast"] = selectors.forecast(total=row["total"], daily_rate=row["daily_rate"],
                                             days_left=days_left, currency=currency)
    return rows


def _period_param(request) -> str:
    return request.GET.get("period") or ""


@fleet_required
@require_GET
def operator_organizations(request):
    access = request_access(request)
    cycle = selectors.dashboard_cycle(label=_period_param(request), now=_now())
    if cycle is None:
        return _page(request, "dashboards/operator_organizations.html", {"cycle": None},
                     period_picker=True)
    rows = selectors.organization_spend(cycle=cycle, access=access)
    if exports.wants_csv(request):
        return exports.table_csv(
            name=f"organizations-{cycle.label}",
            columns=[("organization", lambda r: r["name"]),
                     ("display_name", lambda r: r["display_name"]),
                     ("period", lambda r: cycle.label), ("currency", lambda r: _currency()),
                     ("spend", lambda r: _money_text(r["total"]))],
            items=rows.iterator(chunk_size=2000),
        )
    page = selectors.paginate(rows, page=request.GET.get("page"))
    return _page(request, "dashboards/operator_organizations.html",
                 {"cycle": cycle, "page": page}, period_picker=True)


@fleet_required
@require_GET
def operator_projects(request):
    access = request_access(request)
    cycle = selectors.dashboard_cycle(label=_period_param(request), now=_now())
    if cycle is None:
        return _page(request, "dashboards/operator_projects.html", {"cycle": None},
                     period_picker=True)
    rows = selectors.project_spend(cycle=cycle, access=access)
    until = selectors.rated_until(cycle=cycle)
    if exports.wants_csv(request):
        return _projects_csv(rows, cycle=cycle, until=until, name=f"projects-{cycle.label}")
    page = selectors.paginate(rows, page=request.GET.get("page"))
    page.object_list = _with_forecasts(list(page.object_list), cycle=cycle, until=until)
    return _page(request, "dashboards/operator_projects.html",
                 {"cycle": cycle, "page": page}, period_picker=True)


def _projects_csv(rows, *, cycle, until, name: str):
    currency = _currency()
    days_left = selectors.remaining_days(cycle=cycle, until=until)

    def with_forecast():
        for row in rows.iterator(chunk_size=2000):
            row["forecast"] = selectors.forecast(
                total=row["total"], daily_rate=row["daily_rate"], days_left=days_left,
                currency=currency)
            yield row

    return exports.table_csv(
        name=name,
        columns=[("project", lambda r: r["name"]),
                 ("organization", lambda r: r["organization__name"]),
                 ("period", lambda r: cycle.label), ("currency", lambda r: currency),
                 ("spend", lambda r: _money_text(r["total"])),
                 ("daily_rate", lambda r: _money_text(r["daily_rate"])),
                 ("forecast", lambda r: _money_text(r["forecast"]))],
        items=with_forecast(),
    )


@fleet_required
@require_GET
def operator_unentitled(request):
    cycle = selectors.dashboard_cycle(label=_period_param(request), now=_now())
    if not selectors.unentitled_usage_available():
        raise Http404("this provider prices all usage by its list prices")
    rows = selectors.unentitled_usage(cycle=cycle) if cycle is not None else []
    if exports.wants_csv(request):
        return exports.table_csv(
            name=f"unentitled-usage-{cycle.label if cycle else 'none'}",
            columns=[("organization", lambda r: r.organization), ("project", lambda r: r.project),
                     ("metric", lambda r: r.metric), ("events", lambda r: r.events),
                     ("total_value", lambda r: format(r.total_value.normalize(), "f")),
                     ("first_at", lambda r: r.first_at.isoformat()),
                     ("last_at", lambda r: r.last_at.isoformat())],
            items=rows,
        )
    page = selectors.paginate(rows, page=request.GET.get("page"))
    return _page(request, "dashboards/operator_unentitled.html", {"cycle": cycle, "page": page},
                 period_picker=True)


@fleet_required
@require_GET
def operator_attention(request):
    invoices = selectors.invoices_needing_attention()
    if invoices is None:
        raise Http404("invoice delivery is not tracked")
    if exports.wants_csv(request):
        return exports.table_csv(
            name="invoices-needing-attention",
            columns=[("invoice", lambda i: i.number), ("period", lambda i: i.cycle.label),
                     ("organization", lambda i: i.billing_account.organization.name),
                     ("billing_account", lambda i: i.billing_account.name),
                     ("currency", lambda i: i.currency),
                     ("total", lambda i: _money_text(i.total)),
                     ("problems", lambda i: "; ".join(selectors.attention_reasons(i))),
                     ("last_error", lambda i: i.delivery.last_error if _delivery(i) else "")],
            items=invoices.iterator(chunk_size=500),
        )
    page = selectors.paginate(invoices, page=request.GET.get("page"))
    rows = [{"invoice": i, "reasons": selectors.attention_reasons(i)} for i in page]
    return _page(request, "dashboards/operator_attention.html", {"page": page, "rows": rows})


def _delivery(invoice):
    return getattr(invoice, "delivery", None)


@fleet_required
@require_http_methods(["GET", "POST"])
def operator_credits(request):
    access = request_access(request)
    form = None
    if access.fleet_admin:
        if request.method == "POST":
            form = CreditForm(request.POST)
            if form.is_valid():
                from invoicing.credits import credit_create

                try:
                    credit = credit_create(**form.service_arguments(), actor=request.user)
                except ValidationError as error:
                    form.add_service_errors(error)
                else:
                    messages.success(request, CREDIT_CREATED.format(name=credit.name))
                    return redirect("operator-credits")
        else:
            form = CreditForm()
    elif request.method == "POST":
        raise Http404("only a fleet admin creates credits")
    credits = selectors.credit_list()
    if exports.wants_csv(request):
        return exports.table_csv(
            name="credits",
            columns=[("name", lambda c: c.name), ("description", lambda c: c.description),
                     ("window_start", lambda c: c.window_start.isoformat()),
                     ("window_end", lambda c: c.window_end.isoformat()),
                     ("scope", lambda c: c.scope), ("target", _credit_target),
                     ("region", lambda c: c.region), ("resource_type", lambda c: c.metric_key),
                     ("created_by", lambda c: c.created_by.username if c.created_by else "")],
            items=credits.iterator(chunk_size=2000),
        )
    page = selectors.paginate(credits, page=request.GET.get("page"))
    status = 400 if form is not None and form.is_bound else 200
    response = _page(request, "dashboards/operator_credits.html", {"page": page, "form": form})
    response.status_code = status
    return response


def _credit_target(credit) -> str:
    target = credit.organization or credit.project or credit.resource
    return getattr(target, "name", None) or str(target)


@fleet_required
@require_POST
def operator_rate(request):
    """Fleet admin: run the rating job now (what beat runs every few minutes), so a price
    just changed in the admin shows on the drafts and forecasts at once."""
    if not request_access(request).fleet_admin:
        raise Http404("only a fleet admin runs the rating")
    from invoicing.jobs import rate_open_cycles

    runs = [r for r in rate_open_cycles(now=_now()) if not r.skipped]
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


def _currency() -> str:
    return provider_current().currency


def _money_text(value) -> str:
    from core.money import money_quantum

    return str(Decimal(value).quantize(money_quantum(_currency())))


# --- consumers ------------------------------------------------------------------------


@login_required
@require_GET
def spend(request):
    """What the caller may see the spend of: their organizations and projects."""
    access = request_access(request)
    now = _now()
    cycle = selectors.dashboard_cycle(label=_period_param(request), now=now)
    context: dict = {"cycle": cycle}
    if cycle is not None:
        organizations = selectors.organization_spend(cycle=cycle, access=access)
        projects = selectors.project_spend(cycle=cycle, access=access)
        if exports.wants_csv(request):
            return _projects_csv(projects, cycle=cycle,
                                 until=selectors.rated_until(cycle=cycle),
                                 name=f"projects-{cycle.label}")
        org_page = selectors.paginate(organizations, page=request.GET.get("orgs_page"))
        project_page = selectors.paginate(projects, page=request.GET.get("projects_page"))
        project_page.object_list = _with_forecasts(
            list(project_page.object_list), cycle=cycle,
            until=selectors.rated_until(cycle=cycle))
        context.update({"org_page": org_page, "project_page": project_page})
    return _page(request, "dashboards/spend.html", context, period_picker=True)


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
    now = _now()
    cycle = selectors.dashboard_cycle(label=_period_param(request), now=now)
    context: dict = {"organization": org, "cycle": cycle,
                     "can_manage": access.can_manage_org(org.pk)}
    if cycle is not None:
        lines = selectors.organization_lines(cycle=cycle, organization=org)
        context.update(_summary_context(cycle=cycle, lines=lines))
        projects = selectors.project_spend(cycle=cycle, access=access, organization=org)
        until = context["summary"].rated_until
        if exports.wants_csv(request):
            return _projects_csv(projects, cycle=cycle, until=until,
                                 name=f"{org.name}-projects-{cycle.label}")
        page = selectors.paginate(projects, page=request.GET.get("projects_page"))
        page.object_list = _with_forecasts(list(page.object_list), cycle=cycle, until=until)
        context["project_page"] = page
        context["budgets"] = selectors.budgets_for(organization=org, cycle=cycle,
                                                   spend=context["summary"].total)
    context["unused_quota"] = _unused_quota(org.projects.all(), now)
    context["upcoming"] = selectors.upcoming_invoices(organization=org, cycle=cycle)
    past = list(selectors.past_invoices(organization=org)[: selectors.PREVIEW_SIZE + 1])
    context["past_invoices"] = _with_pdf(past[: selectors.PREVIEW_SIZE])
    context["past_more"] = len(past) > selectors.PREVIEW_SIZE
    accounts = selectors.billing_accounts_with_projects(organization=org, at=now)
    for account in accounts:
        account.profile = selectors.payment_profile_of(account)
    context["accounts"] = accounts
    if selectors.offers_available():
        context["offers"] = selectors.public_offers()
        context["entitlements"] = selectors.entitlements_of(organization=org, now=now)
        holders: dict[int, set[int]] = {}
        for entitlement in context["entitlements"]:
            holders.setdefault(entitlement.offer_version.offer_id, set()).add(
                entitlement.billing_account_id)
        for version in context["offers"]:
            held = holders.get(version.offer_id, set())
            version.active_accounts = [a.name for a in accounts if a.pk in held]
            version.open_accounts = [a for a in accounts if a.pk not in held]
    return _page(request, "dashboards/organization.html", context, period_picker=True)


def _with_pdf(invoices: list) -> list:
    for invoice in invoices:
        invoice.pdf_ready = selectors.invoice_pdf_ready(invoice)
    return invoices


@login_required
@require_GET
def organization_invoices(request, name: str):
    org = _visible_org(request, name)
    invoices = selectors.past_invoices(organization=org)
    if exports.wants_csv(request):
        return exports.table_csv(
            name=f"{org.name}-invoices",
            columns=[("invoice", lambda i: i.number), ("period", lambda i: i.cycle.label),
                     ("billing_account", lambda i: i.billing_account.name),
                     ("status", lambda i: i.status), ("currency", lambda i: i.currency),
                     ("subtotal", lambda i: _money_text(i.subtotal)),
                     ("total", lambda i: _money_text(i.total)),
                     ("issued_at", lambda i: i.issued_at.isoformat() if i.issued_at else "")],
            items=invoices.iterator(chunk_size=2000),
        )
    page = selectors.paginate(invoices, page=request.GET.get("page"))
    page.object_list = _with_pdf(list(page.object_list))
    return _page(request, "dashboards/organization_invoices.html",
                 {"organization": org, "page": page})


@login_required
@require_POST
def offer_accept(request, name: str, offer_key: str):
    """An org admin accepts a public offer for one of the organization's accounts."""
    access = request_access(request)
    org = _visible_org(request, name)
    if not access.can_manage_org(org.pk) or not selectors.offers_available():
        raise Http404("only an admin of the organization accepts offers")
    form = OfferAcceptForm(request.POST, organization=org)
    if not form.is_valid():
        messages.error(request, "Choose one of the organization's billing accounts.")
        return redirect(reverse("organization", args=[org.name]) + "#offers")
    from accounts.entitlements import entitlement_accept

    account = form.cleaned_data["billing_account"]
    try:
        entitlement = entitlement_accept(billing_account=account, offer_key=offer_key,
                                         now=_now(), actor=request.user)
    except ValidationError as error:
        messages.error(request, "; ".join(
            reason for reasons in error.message_dict.values() for reason in reasons))
    else:
        messages.success(request, OFFER_ACCEPTED.format(
            account=account.name, offer=entitlement.offer_version, when=entitlement.start))
    return redirect(reverse("organization", args=[org.name]) + "#offers")


@login_required
@require_GET
def project(request, name: str):
    access = request_access(request)
    now = _now()
    proj = project_get(access=access, name=name, at=now)
    cycle = selectors.dashboard_cycle(label=_period_param(request), now=now)
    context: dict = {"project": proj, "cycle": cycle,
                     "sees_org": access.can_view_org(proj.organization_id)}
    if cycle is not None:
        lines = selectors.project_lines(cycle=cycle, project=proj)
        context.update(_summary_context(cycle=cycle, lines=lines))
        ordered = lines.select_related("invoice__cycle").order_by("sort_key", "id")
        if exports.wants_csv(request):
            return _lines_csv(ordered, name=f"{proj.name}-lines-{cycle.label}")
        context["line_page"] = selectors.paginate(ordered, page=request.GET.get("page"))
        context["budgets"] = selectors.budgets_for(project=proj, cycle=cycle,
                                                   spend=context["summary"].total)
    context["unused_quota"] = _unused_quota([proj], now)
    current = getattr(proj, "current_assignments", [])
    context["billing_account"] = current[0].billing_account if current else None
    return _page(request, "dashboards/project.html", context, period_picker=True)


LINE_COLUMNS = [
    ("period_start", lambda ln: ln.period_start.isoformat()),
    ("period_end", lambda ln: ln.period_end.isoformat()),
    ("region", lambda ln: ln.region), ("description", lambda ln: ln.description),
    ("resource", lambda ln: ln.resource_label), ("project", lambda ln: ln.project_name),
    ("resource_type", lambda ln: ln.metric_key), ("kind", lambda ln: ln.kind),
    ("resource_count", lambda ln: ln.resource_count),
    ("quantity", lambda ln: format(ln.quantity.normalize(), "f")),
    ("unit", lambda ln: ln.unit), ("rate", lambda ln: format(ln.rate.normalize(), "f")),
    ("amount", lambda ln: _money_text(ln.amount)),
]


def _lines_csv(lines, *, name: str):
    return exports.table_csv(name=name, columns=LINE_COLUMNS,
                             items=lines.iterator(chunk_size=2000))


@login_required
@require_GET
def invoice(request, invoice_id: int):
    access = request_access(request)
    inv = selectors.invoice_visible(access=access, invoice_id=invoice_id)
    lines = selectors.invoice_lines(invoice=inv)
    if exports.wants_csv(request):
        return _lines_csv(lines, name=f"invoice-{inv.number or inv.pk}")
    page = selectors.paginate(lines, page=request.GET.get("page"), per_page=50)
    inv.pdf_ready = selectors.invoice_pdf_ready(inv)
    return _page(request, "dashboards/invoice.html", {"invoice": inv, "page": page})


@login_required
@require_GET
def invoice_pdf(request, invoice_id: int):
    """The invoice's PDF, the same stored file the API serves."""
    access = request_access(request)
    inv = selectors.invoice_visible(access=access, invoice_id=invoice_id)
    path = selectors.invoice_pdf_path(invoice=inv, now=_now())
    if path is None:
        raise Http404(NO_PDF)
    return FileResponse(path.open("rb"), content_type="application/pdf", as_attachment=True,
                        filename=f"{inv.number}.pdf")


def _unused_quota(projects, now):
    """The unused-quota widget's report, or None when no quota is allocated."""
    from invoicing.capacity import unused_quota

    report = unused_quota(projects=projects, now=now)
    return report if report.items else None
