"""Where a signed-in user lands."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from accounts.permissions import request_access


@login_required
@require_GET
def home(request):
    """Signed-in users land on the dashboard their roles open: the fleet's or their own."""
    if request_access(request).sees_fleet:
        return redirect("operator")
    return redirect("spend")
