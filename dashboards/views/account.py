"""The signed-in user's own page: API keys (org admins create and revoke them; the
secret is shown once), and how they want to be notified, per organization and project.
And the one-click unsubscribe link every email carries."""

from datetime import date, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.api_keys import api_key_issue, api_key_revoke
from accounts.models import ApiKeyScope, Organization, Project
from accounts.permissions import request_access
from accounts.selectors import api_key_list_for_user
from core.timefmt import zone_of
from cycles.clock import real_now
from dashboards.views.page import page_now, render_page
from notifications.selectors import notification_preference_list
from notifications.services import notification_preference_set
from notifications.unsubscribe import unsubscribe_apply, unsubscribe_message
from tenancy.selectors import provider_current

KEY_REVOKED = "API key {name} revoked: it no longer works."
ONLY_ADMINS = "Only an organization admin creates API keys."
PREFERENCES_SAVED = "Saved: how you hear about {scope}."


def _may_issue_keys(access) -> bool:
    return access.fleet_admin or bool(access.admin_org_ids)


ISSUED_KEY = "dashboards.issued_api_key"
# One line per scope, for the form: what a key of that scope can and cannot do.
SCOPE_DESCRIPTIONS = {
    ApiKeyScope.INGEST: "sends usage and lifecycle events only; cannot read anything",
    ApiKeyScope.READ: "reads (GET) whatever your roles show; changes nothing",
    ApiKeyScope.ADMIN: "does everything your roles allow, changes included",
}
KEY_FIELD_LABELS = {"name": "name:", "scope": "scope", "expires_at": "expiry",
                    "user": "user:"}
EXPIRY_INVALID = "the expiry must be a date (YYYY-MM-DD)"


def _expiry_from_form(text: str) -> datetime | None:
    """The key works through the chosen day in the provider's billing zone: it expires
    at the start of the next local day. Blank: it never expires."""
    if not text.strip():
        return None
    try:
        last_day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError({"expires_at": [EXPIRY_INVALID]}) from None
    zone = zone_of(provider_current().billing_timezone)
    next_day = last_day + timedelta(days=1)
    return datetime(next_day.year, next_day.month, next_day.day, tzinfo=zone)


@login_required
@require_GET
def account(request):
    """The signed-in user's account: provider facts and API keys. A key just created is
    shown here once: the session holds it until this page has shown it."""
    return _account_page(request, issued=request.session.pop(ISSUED_KEY, None))


def _account_page(request, *, issued: dict | None = None, status: int = 200):
    access = request_access(request)
    response = render_page(request, "accounts/home.html", {
        "api_keys": api_key_list_for_user(user=request.user),
        "may_issue_keys": _may_issue_keys(access), "issued": issued,
        "scopes": [(scope.value, scope.label, SCOPE_DESCRIPTIONS[scope])
                   for scope in ApiKeyScope],
        "default_scope": ApiKeyScope.ADMIN.value,
    })
    response.status_code = status
    if issued is not None:
        # The secret is on this page once: never cached, never shown again.
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def api_key_create(request):
    if not _may_issue_keys(request_access(request)):
        raise Http404(ONLY_ADMINS)
    try:
        issued = api_key_issue(
            username=request.user.username, name=request.POST.get("name", ""),
            scope=request.POST.get("scope") or ApiKeyScope.ADMIN,
            expires_at=_expiry_from_form(request.POST.get("expires_on", "")),
            # Keys expire on Earth's clock, in a sandbox too (accounts.authentication).
            now=real_now(), actor=request.user)
    except ValidationError as error:
        for field, reasons in error.message_dict.items():
            for reason in reasons:
                label = KEY_FIELD_LABELS.get(field, field)
                messages.error(request, f"API key not created: {label} {reason}")
        return _account_page(request, status=400)
    # Redirect, so reloading the page never creates a second key.
    request.session[ISSUED_KEY] = {"name": issued.api_key.name, "secret": issued.secret,
                                   "id": issued.api_key.pk, "scope": issued.api_key.scope}
    return redirect(reverse("account") + "#api-keys")


@login_required
@require_POST
def api_key_remove(request, key_id: int):
    key = api_key_list_for_user(user=request.user).filter(pk=key_id).first()
    if key is None:
        raise Http404(f"no API key {key_id} of yours")
    api_key_revoke(api_key=key, now=page_now())
    messages.success(request, KEY_REVOKED.format(name=key.name))
    return redirect("account")


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request):
    """Which emails the user gets, per organization and project they hold a role on."""
    access = request_access(request)
    views = notification_preference_list(user=request.user, access=access)
    if request.method == "POST":
        scope = request.POST.get("scope", "")
        kind, _, pk = scope.partition(":")
        chosen = next((v for v in views if (kind == "project" and str(v.project_id) == pk)
                       or (kind == "organization" and v.project is None
                           and str(v.organization_id) == pk)), None)
        if chosen is None:
            raise Http404("not one of your scopes")
        organization = project = None
        if kind == "project":
            project = Project.objects.get(pk=chosen.project_id)
        else:
            organization = Organization.objects.get(pk=chosen.organization_id)
        try:
            minimum = int(request.POST.get("budget_min_threshold") or 0)
            notification_preference_set(
                user=request.user, organization=organization, project=project,
                invoice_email=("invoice_email" in request.POST) if project is None else None,
                payment_email=("payment_email" in request.POST) if project is None else None,
                credit_email="credit_email" in request.POST,
                budget_email="budget_email" in request.POST,
                budget_min_threshold=minimum, now=page_now())
        except (ValueError, ValidationError):
            messages.error(request, "The lowest threshold is a whole percent from 0 to 1000.")
        else:
            messages.success(request, PREFERENCES_SAVED.format(
                scope=chosen.project or chosen.organization))
        return redirect("notification-preferences")
    return render_page(request, "dashboards/notifications.html", {"preferences": views})


@csrf_exempt  # the signed token in the link is the credential (RFC 8058 one-click POST)
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET: what the link turns off, and a button. POST (the button, or a mail client's
    one-click `List-Unsubscribe=One-Click`): turn it off."""
    message = unsubscribe_message(token)
    if message is None:
        raise Http404("this unsubscribe link is not valid")
    if request.method == "POST":
        done = unsubscribe_apply(message=message, now=page_now())
        return render(request, "dashboards/unsubscribe.html", {"done": done, "token": token})
    return render(request, "dashboards/unsubscribe.html", {"message": message, "token": token})
