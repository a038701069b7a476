"""The operator's credits page: the credits given, and a fleet admin's form to give one."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from accounts.permissions import request_access
from dashboards import exports
from dashboards.forms import CreditForm
from dashboards.selectors.credits import credit_list
from dashboards.selectors.paging import paginate
from dashboards.views.page import fleet_required, instant_text, page_now, render_page
from invoicing.credits import credit_create

CREDIT_CREATED = "Credit “{name}” created: it shows on the drafts from the next rating."


def _credit_target(credit) -> str:
    target = credit.organization or credit.project or credit.resource
    return getattr(target, "name", None) or str(target)


CREDIT_COLUMNS = [
    ("name", lambda c: c.name), ("description", lambda c: c.description),
    ("window_start", lambda c: instant_text(c.window_start)),
    ("window_end", lambda c: instant_text(c.window_end)),
    ("scope", lambda c: c.scope),
    ("target", _credit_target),
    ("region", lambda c: c.region), ("resource_type", lambda c: c.metric_key),
    ("created_by", lambda c: c.created_by.username if c.created_by else ""),
]


@fleet_required
@require_http_methods(["GET", "POST"])
def operator_credits(request):
    access = request_access(request)
    form = None
    if access.fleet_admin:
        if request.method == "POST":
            form = CreditForm(request.POST)
            if form.is_valid() and _credit_created(request, form):
                return redirect("operator-credits")
        else:
            form = CreditForm()
    elif request.method == "POST":
        raise Http404("only a fleet admin creates credits")
    credits = credit_list()
    if exports.wants_csv(request):
        return exports.table_csv(name="credits", columns=CREDIT_COLUMNS,
                                 items=credits.iterator(chunk_size=2000))
    page = paginate(credits, page=request.GET.get("page"))
    status = 400 if form is not None and form.is_bound else 200
    response = render_page(request, "dashboards/operator_credits.html",
                           {"page": page, "form": form})
    response.status_code = status
    return response


def _credit_created(request, form: CreditForm) -> bool:
    """Create the form's credit; False with the service's reasons on the form."""
    try:
        credit = credit_create(**form.service_arguments(), actor=request.user, now=page_now())
    except ValidationError as error:
        form.add_service_errors(error)
        return False
    messages.success(request, CREDIT_CREATED.format(name=credit.name))
    return True
