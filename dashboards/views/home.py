"""Where a signed-in user lands, and their account page."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from accounts.permissions import request_access
from accounts.selectors import api_key_list_for_user
from dashboards.views.page import render_page


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
    return render_page(request, "accounts/home.html",
                       {"api_keys": api_key_list_for_user(user=request.user)})
